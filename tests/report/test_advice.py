"""The coarse-to-fine advice: widen, shift, narrow, extend, fix, on known trials."""

from __future__ import annotations

from bo_hpo import SearchSpace
from bo_hpo.report.advice import advise
from bo_hpo.trial import TrialRecord


def _records(name: str, values: list, filler: list) -> list[TrialRecord]:
    """Trials whose ``name`` takes ``values`` (best first, means 0.1, 0.2, ...), then
    ``filler`` values with bad means."""
    out = []
    for i, v in enumerate(values + filler):
        mean = 0.1 * (i + 1) if i < len(values) else 5.0 + i
        out.append(TrialRecord(trial=i, config={name: v}, status="completed",
                               generator="sobol", mean=mean, sem=0.01))
    return out


def _advise(space: dict, name: str, values: list, filler: list, importance=None):
    records = _records(name, values, filler)
    return advise(SearchSpace(space), records, records[0].config, importance)


def test_widen_when_the_best_sit_at_an_edge():
    out = _advise({"x": ("uniform", 0.0, 2.0)}, "x", [1.95, 1.9, 0.6],
                  [0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.8, 0.9, 1.0])
    assert [(a.kind, a.param, a.new) for a in out] == [("widen", "x", ["uniform", 0.0, 2.5])]
    assert out[0].message == ("x: the best configs sit at the high end of [0, 2]; widen it to "
                              "[0, 2.5].")


def test_shift_when_all_the_best_sit_in_the_near_half():
    out = _advise({"lr": ("log_uniform", 1e-5, 1e-1)}, "lr", [1.2e-5, 1.5e-5, 2e-5, 3e-5],
                  [1e-3, 1e-2, 5e-2, 1e-4, 3e-4, 3e-3, 2e-2, 8e-2])
    assert [(a.kind, a.new) for a in out] == [("shift", ["log_uniform", 1e-6, 0.01])]
    assert out[0].message == ("lr: the best configs sit at the low end of [1e-05, 0.1]; shift "
                              "it to [1e-06, 0.01].")


def test_a_range_that_starts_at_zero_does_not_go_below_it():
    out = _advise({"d": ("uniform", 0.0, 0.5)}, "d", [0.0, 0.01, 0.45],
                  [0.1, 0.2, 0.25, 0.35, 0.4, 0.3, 0.5, 0.15, 0.05])
    assert [(a.kind, a.new) for a in out] == [("note", None)]
    assert "cannot go further" in out[0].message


def test_narrow_when_the_best_crowd_into_a_small_part():
    out = _advise({"y": ("uniform", 0.0, 10.0)}, "y", [5.0, 4.8, 5.3, 5.1],
                  [0.5, 1.5, 2.5, 7.5, 8.5, 9.5, 1.0, 9.0])
    assert [(a.kind, a.new) for a in out] == [("narrow", ["uniform", 3.3, 6.8])]
    assert out[0].message == ("y: the best configs crowd into [4.8, 5.3] of [0, 10]; narrow it "
                              "to [3.3, 6.8].")


def test_extend_an_ordered_list_whose_best_is_its_last_value():
    out = _advise({"w": ("ordered", [32, 64, 128])}, "w", [128, 128, 128, 64],
                  [32, 32, 64, 32, 64, 32, 64, 32])
    assert [(a.kind, a.new) for a in out] == [("extend", ["ordered", [32, 64, 128, 256]])]


def test_fix_what_does_not_matter_once_there_are_enough_trials():
    space = {"z": ("uniform", 0.0, 1.0), "c": ("uniform", 0.0, 1.0),
             "e": ("uniform", 0.0, 1.0), "f": ("uniform", 0.0, 1.0)}
    records = [TrialRecord(trial=i, config={"z": 0.123456 + i / 100, "c": 0.05 * i,
                                            "e": 0.09 * i, "f": 0.08 * i},
                           status="completed", generator="sobol", mean=0.1 * i)
               for i in range(1, 11)]
    importance = {"z": 0.01, "c": 0.33, "e": 0.33, "f": 0.33}
    out = advise(SearchSpace(space), records, records[0].config, importance)
    fixed = [a for a in out if a.kind == "fix"]
    assert [(a.param, a.new) for a in fixed] == [("z", ["fixed", 0.133])]
    assert fixed[0].message == "z hardly matters (importance 1%): fix it at 0.133."
    few = advise(SearchSpace(space), records[:6], records[0].config, importance)
    assert not any(a.kind == "fix" for a in few)  # 6 < 2 per searched parameter (8)
    assert any(a.kind == "note" and "two per searched parameter" in a.message for a in few)


def test_a_constrained_parameter_is_never_fixed():
    space = SearchSpace({"a": ("uniform", 0.0, 1.0), "b": ("uniform", 0.0, 1.0)},
                        constraints=["a + b <= 1.5"])
    records = [TrialRecord(trial=i, config={"a": 0.1 * i, "b": 0.5}, status="completed",
                           generator="sobol", mean=float(i)) for i in range(10)]
    out = advise(space, records, records[0].config, {"a": 0.99, "b": 0.01})
    assert not any(a.kind == "fix" for a in out)


def test_too_few_trials_is_one_note():
    out = _advise({"x": ("uniform", 0.0, 1.0)}, "x", [0.5, 0.4], [0.9, 0.1, 0.2])
    assert [a.kind for a in out] == ["note"]
    assert out[0].message.startswith("Only 5 trials completed")
