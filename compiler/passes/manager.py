"""The PassManager: runs a list of passes over a module, verifying after each one.

For every pass, in order: the instruments' `before_pass`, the pass's `run`,
the instruments' `after_pass` (so ``--print-ir-after`` and ``--dump-dir``
show the IR even when it turns out to be broken), then the verifier. A
verifier failure becomes a `PassError` that names the pass, because a pass
that breaks the IR is a bug in that pass, not in the user's model. The
input is verified once before the first pass (a failure there is the
input's `VerifyError`, unchanged). Instruments' `finish` runs even when a
pass fails, so timings and dumps up to the failure are kept.

    pm = PassManager(parse_pipeline("fold-constants,dce"), [TimePasses()])
    pm.run(module)
    pm.ctx.report()   # {"fold-constants": {"folded": 3, ...}, "dce": {...}}
"""
from __future__ import annotations

from typing import Iterable, Sequence

from ..errors import PassError, VerifyError
from ..ir.core import Module
from ..ir.verifier import verify
from .base import Pass, PassContext
from .instruments import Instrument


class PassManager:
    """Runs `passes` in order with `instruments` observing; statistics end up in `ctx`."""

    def __init__(self, passes: Sequence[Pass], instruments: Iterable[Instrument] = (),
                 ctx: PassContext | None = None, verify_each: bool = True) -> None:
        self.passes = list(passes)
        self.instruments = list(instruments)
        self.ctx = ctx if ctx is not None else PassContext()
        self.verify_each = verify_each

    def run(self, module: Module) -> Module:
        """Run the pipeline over `module` in place and return it."""
        try:
            if self.verify_each:
                verify(module)
            for inst in self.instruments:
                inst.start(module)
            for index, p in enumerate(self.passes, start=1):
                for inst in self.instruments:
                    inst.before_pass(p, module, index)
                self.ctx.begin(p)
                p.run(module, self.ctx)
                for inst in self.instruments:
                    inst.after_pass(p, module, index)
                if self.verify_each:
                    self._verify_after(p, module, index)
        finally:
            for inst in self.instruments:
                inst.finish()
        return module

    @staticmethod
    def _verify_after(p: Pass, module: Module, index: int) -> None:
        try:
            verify(module)
        except VerifyError as e:
            raise PassError(f"pass {p.name!r} (#{index} in the pipeline) left invalid IR: "
                            f"{e.message}", e.loc,
                            hint=f"this is a bug in the pass; see the IR it produced with "
                                 f"--print-ir-after={p.name} or --dump-dir") from e
