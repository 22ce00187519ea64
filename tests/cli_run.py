"""Running ``hyc`` in-process in tests: its exit status and what it printed, after checking
that no traceback or internal error reached the user."""

from hyc.tools import hyc


def run_hyc(argv, capsys):
    try:
        status = hyc.main([str(a) for a in argv])
    except SystemExit as e:  # argparse's usage errors
        status = e.code
    captured = capsys.readouterr()
    assert "internal error" not in captured.err and "Traceback" not in captured.err
    return status, captured.out, captured.err
