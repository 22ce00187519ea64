"""Malformed IR through hyc-opt: a located diagnostic and exit status 1, never a traceback.

Cases live in invalid.hyir, split at '// -----'; each carries
'// expected-error@+N {{message}}' naming the line and text of the error it must produce.
"""

import re
from pathlib import Path

import pytest

from hyc.tools.hyc_opt import main, split_input

CASES_FILE = Path(__file__).parent / "invalid.hyir"
EXPECTED = re.compile(r"// expected-error@([+-]\d+) \{\{(.*)\}\}")


def load_cases():
    cases = []
    for chunk in split_input(CASES_FILE.read_text()):
        lines = chunk.splitlines()
        for number, line in enumerate(lines, 1):
            m = EXPECTED.search(line)
            if m:
                cases.append(pytest.param(chunk, number + int(m.group(1)), m.group(2),
                                          id=f"line{number}"))
    return cases


CASES = load_cases()


def test_there_are_enough_cases():
    assert len(CASES) >= 25


@pytest.mark.parametrize("text,line,message", CASES)
def test_invalid_ir_gives_located_error(text, line, message, tmp_path, capsys):
    path = tmp_path / "case.hyir"
    path.write_text(text)
    assert main([str(path)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    located = [e for e in err.splitlines() if e.startswith(f"{path}:{line}:")]
    assert located, f"no error on line {line}:\n{err}"
    assert any(re.search(r": error\[E\d{4}\]: ", e) and message in e for e in located), err
    # the source line and a caret follow the message
    lines = err.splitlines()
    first = lines.index(located[0])
    assert lines[first + 1] == text.splitlines()[line - 1]
    assert lines[first + 2].strip() == "^"


def test_split_input_file_reports_every_case_with_original_line_numbers(capsys):
    assert main(["--split-input-file", str(CASES_FILE)]) == 1
    err = capsys.readouterr().err
    for param in CASES:
        _, line, message = param.values
        assert f"{CASES_FILE}:{line}:" in err
        assert message in err


def test_several_verifier_errors_are_reported_together(tmp_path, capsys):
    path = tmp_path / "two.hyir"
    path.write_text("func.func @f(%a: f32, %b: i32) -> f32 {\n"
                    "  %c = hy.exp %b : i32\n"
                    "  %d = hy.add %a, %b : (f32, i32) -> f32\n"
                    "  func.return %d : f32\n}\n")
    assert main([str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:2:3: error[E0702]: 'hy.exp' op operand #0" in err
    assert f"{path}:3:3: error[E0303]: 'hy.add' op operand element types differ" in err
