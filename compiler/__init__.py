"""wsc compiler: frontends, IR, passes, lowering to the runtime's Program."""
__version__ = "0.1.0"
