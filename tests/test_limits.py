import hashlib
import textwrap

import pytest

from bench.errors import ConfigErrors
from bench.limits import Limits, load_limit_set
from bench.units import Q_

GOOD = """
[limit_set]
id = "t"
version = "1"
chemistry = "LFP"
[limits."cell.ocv"]
min = "2.5 V"
max = "3.65 V"
marginal = "50 mV"
source = "LFP cell datasheet window"
[limits."cell.spread"]
source = "bench default"
[[limits."cell.spread".grades]]
grade = "A"
min = "0 mV"
max = "20 mV"
[[limits."cell.spread".grades]]
grade = "B"
min = "20 mV"
max = "50 mV"
[parameters."charge.rate"]
value = "0.5 1/h"
source = "bench default"
"""


def write(tmp_path, text, name="l.toml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def test_loads_limits_with_units_grades_and_sha256(tmp_path):
    p = write(tmp_path, GOOD)
    ls = load_limit_set(p)
    lim = ls.limits["cell.ocv"]
    assert lim.low == Q_(2.5, "V") and lim.high == Q_(3.65, "V") and lim.marginal == Q_(50, "mV")
    assert [b.grade for b in ls.limits["cell.spread"].grades] == ["A", "B"]
    assert ls.sha256 == hashlib.sha256(p.read_bytes()).hexdigest()
    assert Limits([ls]).param("charge.rate") == Q_(0.5, "1/h")


def test_limit_record_stays_structured_data(tmp_path):
    rec = load_limit_set(write(tmp_path, GOOD)).limits["cell.ocv"].to_record()
    assert rec["low"] == 2.5 and rec["high"] == 3.65 and rec["unit"] == "V" and rec["rule"] == "simple"


@pytest.mark.parametrize(
    "snippet, key, words",
    [
        ('[limits."x"]\nmin = "3 V"\nmax = "2 V"\nsource = "s"\n', "limits.x", "greater than max"),
        ('[limits."x"]\nmin = "3 V"\nmax = "2 A"\nsource = "s"\n', "limits.x.max", "dimension"),
        ('[limits."x"]\nmax = "2 V"\nsource = "s"\ncolour = "red"\n', "limits.x.colour", "unknown key"),
        ('[limits."x"]\nmax = "2 V"\n', "limits.x.source", "provenance"),
        ('[limits."x"]\nmax = "2 V"\nsource = "s"\nrule = "lenient"\n', "limits.x.rule", "decision rule"),
        (
            '[limits."x"]\nsource = "s"\n[[limits."x".grades]]\ngrade = "A"\nmin = "0 mV"\nmax = "30 mV"\n'
            '[[limits."x".grades]]\ngrade = "B"\nmin = "20 mV"\nmax = "50 mV"\n',
            "limits.x.grades",
            "overlap",
        ),
        (
            '[limits."x"]\nsource = "s"\n[[limits."x".grades]]\ngrade = "A"\nmin = "0 mV"\nmax = "10 mV"\n'
            '[[limits."x".grades]]\ngrade = "B"\nmin = "20 mV"\nmax = "50 mV"\n',
            "limits.x.grades",
            "gap",
        ),
        ("[colours]\na = 1\n", "colours", "unknown section"),
    ],
)
def test_invalid_limit_sets_name_file_and_key(tmp_path, snippet, key, words):
    p = write(tmp_path, '[limit_set]\nid = "t"\nversion = "1"\n' + snippet)
    with pytest.raises(ConfigErrors) as e:
        load_limit_set(p)
    msg = str(e.value)
    assert f"{p}:{key}" in msg and words in msg


def test_every_problem_is_reported_at_once(tmp_path):
    p = write(
        tmp_path,
        '[limit_set]\nid = "t"\n[limits."a"]\nmax = "2 V"\n[limits."b"]\nmin = "1 V"\nmax = "x"\nsource = "s"\n',
    )
    with pytest.raises(ConfigErrors) as e:
        load_limit_set(p)
    keys = {err.key for err in e.value.errors}
    assert {"limit_set.version", "limits.a.source", "limits.b.max"} <= keys


def test_invalid_toml_names_the_file(tmp_path):
    p = write(tmp_path, "[limit_set\n")
    with pytest.raises(Exception) as e:
        load_limit_set(p)
    assert str(p) in str(e.value)


def test_shipped_limit_sets_validate():
    from pathlib import Path

    files = sorted(Path(__file__).resolve().parent.parent.joinpath("limits").glob("*.toml"))
    assert files
    for f in files:
        load_limit_set(f)


def _plan_reading(*names: str):
    from bench.declarations import parse_declarations

    return parse_declarations(
        {"plan": {"name": "p"}, "parameters": {n: {"dimension": "[time]"} for n in names}}, "plan.toml"
    )


def _set(tmp_path, name: str, params: dict[str, str], overlay: bool | None = None):
    head = f'[limit_set]\nid = "{name}"\nversion = "1"\n' + (
        "" if overlay is None else f"overlay = {overlay if isinstance(overlay, str) else str(overlay).lower()}\n"
    )
    body = "".join(f'[parameters."{k}"]\nvalue = "{v}"\nsource = "test"\n' for k, v in params.items())
    p = tmp_path / f"{name}.toml"
    p.write_text(head + body)
    return p


def test_an_overlay_limit_set_changes_one_parameter_and_the_sets_after_it_complete_it(tmp_path):
    decl = _plan_reading("a.wait", "b.wait")
    base = load_limit_set(_set(tmp_path, "base", {"a.wait": "1 s", "b.wait": "2 s"}), decl)
    over = load_limit_set(_set(tmp_path, "site", {"b.wait": "5 s"}, overlay=True), decl)
    limits = Limits([over, base], decl)
    assert limits.param("b.wait") == Q_(5, "s") and limits.param("a.wait") == Q_(1, "s")
    with pytest.raises(ConfigErrors, match=r"missing parameter 'b.wait'.*plan.toml"):  # not an overlay: complete
        load_limit_set(_set(tmp_path, "partial", {"a.wait": "1 s"}), decl)


def test_an_overlay_alone_is_refused_naming_what_no_set_gives(tmp_path):
    decl = _plan_reading("a.wait", "b.wait")
    over = load_limit_set(_set(tmp_path, "site", {"b.wait": "5 s"}, overlay=True), decl)
    with pytest.raises(ConfigErrors, match=r"site.toml.*missing parameter 'a.wait'"):
        Limits([over], decl)
    with pytest.raises(ConfigErrors, match="limit_set.overlay"):
        load_limit_set(_set(tmp_path, "bad", {"b.wait": "5 s"}, overlay='"yes"'), decl)  # type: ignore[arg-type]
