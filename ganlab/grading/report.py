"""The reports: JSON, CSV, feedback for students, Gradescope results and a Canvas gradebook.

A stage of ``python -m ganlab grade``: see :mod:`ganlab.grade`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path

from ganlab.checkpoint import atomic_write_text


def report(entries: list[dict | None], *, cell_timeout: float, notebook_timeout: float,
           seed: int | None = None, sandbox_info: dict | None = None) -> dict:
    """The JSON report (see the module docstring); entries still ``None`` are left out."""
    from ganlab.runtime import fast_mode

    done = [e for e in entries if e is not None]
    return {"complete": len(done) == len(entries), "fast_mode": fast_mode(),
            "cell_timeout": float(cell_timeout), "notebook_timeout": float(notebook_timeout),
            "seed": seed, "sandbox": sandbox_info, "submissions": done}


def write_json(path: str | os.PathLike, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def csv_text(entries: list[dict]) -> str:
    """One row per submission: path, source, status, score, max_score, each check, tampered, error."""
    check_ids = []
    for entry in entries:
        check_ids += [c["id"] for c in entry["checks"] if c["id"] not in check_ids]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["path", "source", "status", "score", "max_score", *check_ids, "tampered",
                     "integrity", "error"])
    for entry in entries:
        points = {c["id"]: c["points"] for c in entry["checks"]}
        writer.writerow([entry["path"], entry["source"] or "", entry["status"], entry["score"],
                         entry["max_score"], *[points.get(i, "") for i in check_ids],
                         ";".join(entry["tampered"]), integrity_text(entry),
                         entry["error"] or ""])
    return out.getvalue()


def integrity_text(entry: dict) -> str:
    """The integrity findings of a submission on one line: ``kind (cell): detail; ...``."""
    return "; ".join(f"{f['kind']} ({f['cell'] or 'run'}): {f['detail']}"
                     for f in entry.get("integrity", []))


def feedback_text(entry: dict) -> str:
    """The markdown feedback for the student of one submission."""
    lines = [f"# Feedback on {Path(entry['path']).name}", ""]
    assignment = f"Assignment `{Path(entry['source']).name}`. " if entry["source"] else ""
    lines += [f"{assignment}Score of the automatic checks: **{entry['score']} / "
              f"{entry['max_score']}**.", ""]
    if entry["error"]:
        lines += [f"**Your notebook could not be graded:** {entry['error']}", ""]
    if entry["checks"] and not entry["error"]:
        lines += ["| check | points | result |", "|---|---|---|"]
        for check in entry["checks"]:
            result = "passed" if check["passed"] else check["message"]
            lines.append(f"| `{check['id']}` | {check['points']} / {check['max_points']} | "
                         f"{_cell_text(result)} |")
        lines.append("")
    if entry["tampered"]:
        how = ", ".join(f"`{c['id']}` ({c['tampered']})" for c in entry["checks"] if c["tampered"])
        lines += ["**Check cells you changed, deleted or moved:** " + how + ". The grader put "
                  "the original check cells back and ran them; your instructor sees this note.", ""]
    if entry.get("integrity"):
        lines += ["**What the grader noticed** (your instructor sees this too):", ""]
        for finding in entry["integrity"]:
            costs = (f" Checks scored 0 for it: {', '.join(f'`{c}`' for c in finding['checks'])}."
                     if finding.get("checks") else "")
            lines.append(f"- {finding['kind']} in cell `{finding['cell'] or '(the run)'}`: "
                         f"{_cell_text(finding['detail'])}.{costs}")
        lines.append("")
    if entry["cell_errors"]:
        lines += ["Other cells that failed (they may explain a failing check):", ""]
        lines += [f"- `{e['cell']}`: {e['message']}" for e in entry["cell_errors"]] + [""]
    if entry["manual"]:
        lines += ["Written answers, graded by hand: " + ", ".join(
            f"`{m['id']}` ({m['points']} points{'' if m['answered'] else ', not answered'})"
            for m in entry["manual"]) + ".", ""]
    return "\n".join(lines)


def _cell_text(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def feedback_names(entries: list[dict]) -> list[str]:
    """A file name per entry: the submission's name with ``.md``, led by as many of its
    folders as it takes to tell it from the others (``alice__01_autoencoders.md``)."""
    parts = [Path(e["path"]).resolve().with_suffix(".md").parts[1:] for e in entries]
    names, used = [], set()
    for path in parts:
        keep = 1
        while keep < len(path) and sum(p[-keep:] == path[-keep:] for p in parts) > 1:
            keep += 1
        name = stem = "__".join(path[-keep:])
        n = 2
        while name in used:  # the same file given twice
            name, n = f"{stem[:-3]}-{n}.md", n + 1
        used.add(name)
        names.append(name)
    return names


def write_reports(entries: list[dict | None], *, json_path, csv_path=None, feedback_dir=None,
                  cell_timeout: float, notebook_timeout: float, seed: int | None = None,
                  sandbox_info: dict | None = None, gradescope_dir=None,
                  canvas_path=None) -> None:
    """Write the JSON report, and with all entries done the CSV, the feedback files and
    the Gradescope and Canvas exports."""
    write_json(json_path, report(entries, cell_timeout=cell_timeout,
                                 notebook_timeout=notebook_timeout, seed=seed,
                                 sandbox_info=sandbox_info))
    if any(e is None for e in entries):
        return
    if csv_path:
        atomic_write_text(csv_path, csv_text(entries))
    if feedback_dir:
        for entry, name in zip(entries, feedback_names(entries), strict=True):
            atomic_write_text(Path(feedback_dir) / name, feedback_text(entry))
    if gradescope_dir:
        for entry, name in zip(entries, feedback_names(entries), strict=True):
            write_json(Path(gradescope_dir) / name.removesuffix(".md") / "results.json",
                       gradescope_results(entry))
    if canvas_path:
        atomic_write_text(canvas_path, canvas_csv(entries))


def gradescope_results(entry: dict) -> dict:
    """A Gradescope ``results.json`` for one submission: one test per check, visible."""
    tests = []
    for check in entry["checks"]:
        output = "passed" if check["passed"] else (check["message"] or "failed")
        tests.append({"name": check["id"], "score": check["points"],
                      "max_score": check["max_points"], "output": output,
                      "visibility": "visible"})
    summary = [f"Automatic checks: {entry['score']} / {entry['max_score']}."]
    if entry["error"]:
        summary.append(f"Your notebook could not be graded: {entry['error']}")
    if entry.get("integrity"):
        summary.append("The grader noticed: " + integrity_text(entry))
    if entry["manual"]:
        summary.append("Written answers are graded by hand: " + ", ".join(
            m["id"] for m in entry["manual"]) + ".")
    return {"score": entry["score"], "execution_time": int(round(entry["seconds"])),
            "output": "\n".join(summary), "visibility": "visible", "tests": tests}


def student_name(path: str) -> str:
    """Who handed a submission in, read off its path: the folder ``alice/``, else the part
    of the file name around the assignment's name (``alice-01_autoencoders.ipynb``)."""
    p = Path(path)
    stem = re.sub(r"[0-9]{2}_[a-z_]+", "", p.stem).strip("-_ .")
    if stem:
        return stem
    return p.parent.name if p.parent.name not in ("", ".") else p.stem


def canvas_csv(entries: list[dict]) -> str:
    """A gradebook for Canvas's import: the columns Canvas expects, a column per assignment
    with the automatic score. Canvas matches rows by ID: fill those in (or match by name)."""
    assignments_seen = []
    for entry in entries:
        name = Path(entry["source"]).stem if entry["source"] else None
        if name and name not in assignments_seen:
            assignments_seen.append(name)
    rows: dict[str, dict[str, int]] = {}
    for entry in entries:
        who = student_name(entry["path"])
        if entry["source"]:
            rows.setdefault(who, {})[Path(entry["source"]).stem] = entry["score"]
        else:
            rows.setdefault(who, {})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                     *assignments_seen])
    writer.writerow(["Points Possible", "", "", "", "", *[
        next(e["max_score"] for e in entries if e["source"] and Path(e["source"]).stem == a)
        for a in assignments_seen]])
    for who, scores in rows.items():
        writer.writerow([who, "", "", "", "", *[scores.get(a, "") for a in assignments_seen]])
    return out.getvalue()


def summary_line(entry: dict) -> str:
    """One line for the terminal: path, score, status, tampering, error."""
    line = f"{entry['path']}: {entry['score']}/{entry['max_score']} ({entry['status']})"
    if entry["tampered"]:
        line += f", tampered: {', '.join(entry['tampered'])}"
    if entry.get("integrity"):
        line += f", flagged: {', '.join(sorted({f['kind'] for f in entry['integrity']}))}"
    if entry["error"]:
        line += f", error: {entry['error']}"
    return line
