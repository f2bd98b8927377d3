"""Telemetry series read from the journal into numpy, and the raw CSV.

A run can hold millions of samples, so nothing here touches one sample at a time in Python:
each series is one SQL query streamed into a numpy record array and the CSV is written by
polars. The plots (bench.plotting) show min/max-decimated data; the CSV keeps every sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.journal import Journal

_ROW = np.dtype([("t", "f8"), ("v", "f8"), ("null", "i1"), ("step", "i4")])


@dataclass
class SeriesData:
    """One named series: time (s), value (NaN where the journal holds NULL) and a step code per sample."""

    name: str
    unit: str
    t: np.ndarray
    v: np.ndarray
    step_code: np.ndarray
    steps: list[str]  # step code -> step nodeid ("" for samples outside a step)

    def __len__(self) -> int:
        return int(self.t.size)

    def stats(self) -> dict[str, object]:
        """Summary for the record: plain floats, so canonical JSON is stable."""
        finite = self.v[np.isfinite(self.v)]
        present = sorted({self.steps[c] for c in np.unique(self.step_code)} - {""})
        return {
            "name": self.name,
            "unit": self.unit,
            "samples": len(self),
            "min": float(finite.min()) if finite.size else None,
            "max": float(finite.max()) if finite.size else None,
            "t_first": float(self.t[0]) if len(self) else None,
            "t_last": float(self.t[-1]) if len(self) else None,
            "steps": present,
        }


def load_series(journal: Journal, run_id: str) -> list[SeriesData]:
    """Every series of a run, ordered by name; one query per series, streamed into numpy."""
    out: list[SeriesData] = []
    with journal.reader() as db:
        names = db.execute(
            "SELECT name, MIN(unit) FROM series WHERE run_id = ? GROUP BY name ORDER BY name", (run_id,)
        ).fetchall()
        for name, unit in names:
            steps = [
                r[0] or ""
                for r in db.execute(
                    "SELECT DISTINCT step FROM series WHERE run_id = ? AND name = ? ORDER BY step",
                    (run_id, name),
                )
            ]
            steps = sorted(set(steps))
            case = " ".join(f"WHEN ? THEN {i}" for i, s in enumerate(steps) if s)
            code_sql = f"CASE step {case} ELSE {steps.index('') if '' in steps else -1} END" if case else "0"
            args = [s for s in steps if s]
            cur = db.execute(
                f"SELECT t, IFNULL(value, 0.0), value IS NULL, {code_sql} FROM series "
                "WHERE run_id = ? AND name = ? ORDER BY rowid",
                (*args, run_id, name),
            )
            rows = np.fromiter(cur, dtype=_ROW)
            v = rows["v"].copy()
            v[rows["null"] == 1] = np.nan
            codes = rows["step"].copy()
            if not steps:
                steps = [""]
            codes[codes < 0] = 0
            out.append(SeriesData(name=name, unit=unit or "", t=rows["t"].copy(), v=v, step_code=codes, steps=steps))
    return out


def write_telemetry_csv(series: list[SeriesData], path: Path) -> int:
    """Every sample, long format (series, unit, step, t_s, value); returns the number of rows."""
    import polars as pl

    frames = []
    for s in series:
        frames.append(
            pl.DataFrame(
                {
                    "series": pl.repeat(s.name, len(s), eager=True, dtype=pl.String),
                    "unit": pl.repeat(s.unit, len(s), eager=True, dtype=pl.String),
                    "step": pl.Series(s.steps, dtype=pl.String).gather(s.step_code),
                    "t_s": s.t,
                    "value": s.v,
                }
            )
        )
    df = (
        pl.concat(frames)
        if frames
        else pl.DataFrame(
            schema={
                "series": pl.String,
                "unit": pl.String,
                "step": pl.String,
                "t_s": pl.Float64,
                "value": pl.Float64,
            }
        )
    )
    df = df.with_columns(pl.col("value").fill_nan(None))
    df.write_csv(path, null_value="", line_terminator="\n")
    return df.height
