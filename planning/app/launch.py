"""``make app`` / ``python -m planning.app.launch [streamlit flags]``: warm up, then serve.

Runs :func:`planning.app.warm.warm_up` and then ``streamlit run app.py`` *in this process*
(Streamlit's own command line, :func:`streamlit.web.cli.main`), so the server only answers
once the imports and the demo's default views are ready and a planner's first page is not the
one that pays for them. Every argument is passed to ``streamlit run`` (e.g.
``--server.port 8502``); ``JINGKANG_WARM_UP=0`` skips the warm-up (a bare
``streamlit run app.py`` works too, only with a slower first page).
"""

from __future__ import annotations

import gc
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def streamlit_args(argv: list[str]) -> list[str]:
    """Return the ``streamlit`` command-line arguments that run the app with ``argv``."""
    return ["run", str(ROOT / "app.py"), *argv]


def main(argv: list[str] | None = None) -> int:
    """Warm up (unless ``JINGKANG_WARM_UP=0``), then run the Streamlit server; never returns."""
    argv = sys.argv[1:] if argv is None else argv
    os.chdir(ROOT)
    from streamlit.web import bootstrap, cli

    args = streamlit_args(argv)
    # Load the configuration with these flags now, as `streamlit run` will: the warm-up reads
    # it, and the server must not see it change (Streamlit would warn about a restart).
    ctx = cli.main_run.make_context("run", args[1:])
    bootstrap.load_config_options(
        flag_options={k: v for k, v in ctx.params.items() if k not in ("target", "args")})
    if os.environ.get("JINGKANG_WARM_UP", "1") != "0":
        from planning.app.warm import warm_up

        t0 = time.perf_counter()
        try:
            steps = warm_up()
        except Exception as exc:  # an optimisation only: the pages compute on demand instead
            print(f"warm-up skipped ({type(exc).__name__}); pages will compute on first visit",
                  file=sys.stderr)
        else:
            detail = ", ".join(f"{k} {v:.1f} s" for k, v in steps.items())
            print(f"warmed up in {time.perf_counter() - t0:.1f} s ({detail})", file=sys.stderr)
            # What the warm-up built lives as long as the server: keep the collector off it.
            gc.collect()
            gc.freeze()
    return cli.main(args=args, prog_name="streamlit", standalone_mode=True)


if __name__ == "__main__":
    raise SystemExit(main())
