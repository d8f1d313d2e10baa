"""wsc compiler: frontends, IR, passes, lowering to the runtime's Program.

The Python API in one call (see `compiler.driver`)::

    import compiler
    result = compiler.compile("samples/mlp.wsl", opt_level=2)
    result.save("mlp.wafer")
"""
__version__ = "0.1.0"

from .driver import CompileResult, compile, load_source  # noqa: E402,A004

__all__ = ["CompileResult", "compile", "load_source", "__version__"]
