"""The evidence an archival report PDF carries inside it (PDF/A-3 associated files).

A PDF filed for a decade may travel without its run folder. So it embeds the data behind every
number, each as the exact bytes that are in the run folder:

  record.json            the canonical run record (relationship Data: the report is rendered from it)
  <set>.toml             each limit set as it was in force at run start (Source: the criteria)
  passport.json          the battery passport, where the run has one (Data)

The manifest cannot be embedded in the PDF it lists (its hash would change); `bench sign` adds
manifest.json to the signed copy of the PDF in the same incremental update as the first PDF
signature (see bench.signing.pdfsign and docs/signing.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bench.journal import Journal
from bench.report.pdf import EmbeddedFile
from bench.report.record import safe_name
from bench.signing.manifest import canonical_json


def evidence_files(journal: Journal, run_id: str, record: dict[str, Any], record_bytes: bytes) -> list[EmbeddedFile]:
    """record.json, the limit sets and the passport, as the run folder holds them."""
    files = [
        EmbeddedFile(
            "record.json",
            record_bytes,
            f"Canonical run record of {record['report_id']} (the data this report is rendered from)",
            "Data",
            "application/json",
        )
    ]
    passport_attached = False
    for a in journal.attachments(run_id):
        if a["kind"] == "limit-set":
            name = safe_name(a["name"])
            files.append(
                EmbeddedFile(
                    name,
                    bytes(a["content"]),
                    f"Limit set {name}, exact bytes in force at run start",
                    "Source",
                    "application/toml",
                )
            )
        elif a["name"] == "passport.json":
            passport_attached = True
            files.append(
                EmbeddedFile(
                    "passport.json",
                    bytes(a["content"]),
                    "Battery passport of the device under test (attachment)",
                    "Data",
                    "application/json",
                )
            )
    if not passport_attached:
        for p in record.get("passports", []):
            if p.get("source") == "DUT information" and p.get("data"):
                files.append(
                    EmbeddedFile(
                        "passport.json",
                        canonical_json(p["data"]),
                        "Battery passport of the device under test (from the DUT information, "
                        "canonical JSON as in record.json)",
                        "Data",
                        "application/json",
                    )
                )
                break
    return files


def run_time(record: dict[str, Any]) -> datetime | None:
    """The run's end (or start) as an aware datetime: dates the embedded files reproducibly."""
    run = record.get("run", {})
    for key in ("ended_wall", "started_wall"):
        text = run.get(key)
        if text:
            try:
                value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
            except ValueError:
                continue
            return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None
