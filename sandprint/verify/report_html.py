"""The verification report as one self-contained HTML page (no scripts, no external files).

Sections: the verdict; the denials (highlighted); the seccomp profile's allowed syscalls set
against the container engine's default allow-list; the Landlock filesystem rules as a tree with their rights
(denied paths placed in the tree, highlighted); the TCP port rules; what the recording saw.
"""

from __future__ import annotations

from html import escape
from typing import Any

from ..fileio import read_json, write_atomic
from .report_text import who

CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:70em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
.verdict{padding:.6em 1em;border-radius:6px;font-weight:bold;font-size:1.2em}
.pass{background:#e3f6e3;color:#145214}.fail{background:#fde2e2;color:#8a1010}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em;
text-align:left;vertical-align:top}
tr.denied td,.denied{background:#fde2e2;color:#8a1010;font-weight:bold}
.chip{display:inline-block;margin:2px;padding:1px 6px;border-radius:4px;font-family:monospace;
font-size:.9em}.both{background:#e8eef8}.extra{background:#fff0d0;border:1px solid #e0a800}
.dockeronly{background:#f2f2f2;color:#888}.chip.denied{background:#d32f2f;color:#fff}
ul.tree{list-style:none;padding-left:1.2em;font-family:monospace}
.rights{color:#2a5b9b;font-size:.85em}.legend span{margin-right:1em}
.warn{background:#fff6d6;padding:.3em .6em;border-left:4px solid #e0a800}
"""


def _chips(names, cls: str, denied: set[str]) -> str:
    return "".join(f'<span class="chip {"denied" if n in denied else cls}">{escape(n)}</span>'
                   for n in sorted(names))


def _docker_allowed(arch: str) -> set[str] | None:
    """What the container engine's default profile allows (None when there is none here)."""
    from ..errors import InputError
    from ..generators.baseline import docker_allowed, find_baseline

    base = find_baseline()
    if base is None:
        return None
    try:
        return docker_allowed(read_json(base.path, "baseline seccomp profile"), arch,
                              caps=base.caps, source=base.path)
    except InputError:
        return None


def _seccomp_section(result) -> str:
    if result.profile is None:
        return ""
    allowed = result.profile.allowed_syscalls()
    denied = {d.name for d in result.denials if d.kind == "syscall"}
    docker = _docker_allowed(result.recording.arch)
    out = [f"<h2>Seccomp: {len(allowed)} syscalls allowed "
           f"({escape(result.seccomp_path or '')})</h2>"]
    out.append('<p class="legend"><span class="chip denied">denied in this run</span>'
               '<span class="chip both">allowed, the engine\'s default allows it too</span>'
               '<span class="chip extra">allowed beyond the engine\'s default</span>'
               '<span class="chip dockeronly">the engine\'s default allows, this profile '
               'denies</span></p>')
    if denied:
        out.append(f"<p>Denied in this run (not in the profile): "
                   f"{_chips(denied, 'denied', denied)}</p>")
    if docker is None:
        out.append("<p>No container engine default seccomp profile was found: no comparison.</p>")
        out.append(f"<p>{_chips(allowed, 'both', denied)}</p>")
    else:
        out.append(f"<p>Allowed, as in the engine's default ({len(allowed & docker)}): "
                   f"{_chips(allowed & docker, 'both', denied)}</p>")
        out.append(f"<p>Allowed beyond the engine's default ({len(allowed - docker)}): "
                   f"{_chips(allowed - docker, 'extra', denied)}</p>")
        out.append(f"<details><summary>The engine's default allows {len(docker - allowed)} "
                   f"syscalls this profile denies</summary>"
                   f"{_chips(docker - allowed, 'dockeronly', denied)}</details>")
    return "\n".join(out)


def _tree(rules: dict[str, frozenset[str]], denied: dict[str, list[str]]) -> str:
    root: dict[str, Any] = {}
    for path in set(rules) | set(denied):
        node = root
        for part in [p for p in path.split("/") if p] or ["/"]:
            node = node.setdefault(part, {})

    def render(node: dict[str, Any], prefix: str) -> str:
        items = []
        for name in sorted(node):
            path = (prefix.rstrip("/") + "/" + name) if name != "/" else "/"
            label = escape(name)
            extra = ""
            cls = ""
            if path in rules:
                extra += f' <span class="rights">{escape(", ".join(sorted(rules[path])))}</span>'
            if path in denied:
                cls = ' class="denied"'
                extra += f" DENIED: {escape(', '.join(denied[path]))}"
            children = render(node[name], path) if node[name] else ""
            items.append(f"<li{cls}>{label}{extra}{children}</li>")
        return f'<ul class="tree">{"".join(items)}</ul>'

    return render(root, "")


def _landlock_section(result) -> str:
    pol = result.policy
    if pol is None:
        return ""
    denied = {d.name: d.rights for d in result.denials if d.kind == "file"}
    out = [f"<h2>Landlock: {len(pol.rules)} filesystem rules "
           f"({escape(result.landlock_path or '')})</h2>",
           f"<p>Handled (denied unless a rule grants them): "
           f"<span class=\"rights\">{escape(', '.join(sorted(pol.handled_fs)))}</span></p>",
           _tree(pol.rules, denied)]
    out.append("<h2>TCP ports</h2>")
    net_denied = [d for d in result.denials if d.kind == "network"]
    if not pol.handled_net:
        out.append("<p>Network not restricted by this ruleset.</p>")
    rows = [f"<tr><td>{p}</td><td>{escape(', '.join(sorted(r)))}</td></tr>"
            for p, r in sorted(pol.ports.items())]
    rows += [f'<tr class="denied"><td>{escape(d.name)}</td><td>DENIED</td></tr>'
             for d in net_denied]
    out.append("<table><tr><th>port</th><th>allowed</th></tr>" + "".join(rows) + "</table>"
               if rows else "<p>No port is allowed.</p>")
    return "\n".join(out)


def _static_section(result) -> list[str]:
    """What the recorded programs could do (static analysis), per target."""
    out = []
    allowed = result.profile.allowed_syscalls() if result.profile is not None else set()
    for c in result.coverage.get("static") or ():
        out.append(f'<h3 id="static-{escape(c["target"])}">Static analysis of target '
                   f'{escape(c["target"])}: the recordings saw {c["seen"]} of the '
                   f'{c["possible"]} syscalls its programs can make</h3>')
        rows = [("unseen, low risk", c["unseenLowRisk"], "both"),
                ("unseen, high risk", c["unseenHighRisk"], "extra"),
                ("recorded, not found statically", c["recordedNotFound"], "dockeronly")]
        out.append("<table>" + "".join(
            f"<tr><td>{label} ({len(names)})</td><td>{_chips(names, cls, set())}"
            + (f" <em>{len(set(names) & allowed)} allowed by the profile</em>"
               if allowed and names else "") + "</td></tr>"
            for label, names, cls in rows)
            + "<tr><td>analysed</td><td>" + escape(", ".join(c["analysed"]) or "none")
            + f" ({c['libraries']} libraries)</td></tr></table>")
        for line in c["lines"][1:]:
            line = line.strip()
            if line.startswith(("syscall sites", "interpreted", "not analysed",
                                "opened with dlopen")):
                out.append(f"<p>{escape(line)}</p>")
    return out


def _coverage_section(result) -> str:
    rows = []
    for label, key in (("this replay", "replay"), ("the sandbox's recordings", "profile")):
        c = result.coverage.get(key)
        if not c:
            continue
        secs = "?" if c.get("seconds") is None else f"{c['seconds']:.1f} s"
        rows.append(f"<tr><td>{label}</td><td>{c['runs']}</td><td>{secs}</td>"
                    f"<td>{c['processes']}</td><td>{escape(', '.join(c['executables']))}</td></tr>")
    out = ["<h2>Coverage</h2><table><tr><th></th><th>runs</th><th>duration</th>"
           "<th>processes</th><th>executables</th></tr>" + "".join(rows) + "</table>"]
    out += _static_section(result)
    for w in result.warnings:
        out.append(f'<p class="warn">{escape(w)}</p>')
    from .report_text import by_design_lines

    for line in by_design_lines(result):
        out.append(f"<p>{escape(line.strip())}</p>")
    for n in result.notes:
        out.append(f"<p>note: {escape(n)}</p>")
    return "\n".join(out)


def render(result) -> str:
    from .report_text import verdict_line

    cls = "pass" if result.ok else "fail"
    word = "would be denied" if result.mode == "complain" else "denied"
    rows = []
    for d in sorted(result.denials, key=lambda d: (-d.count, d.kind, d.name)):
        rows.append(f'<tr class="denied"><td>{escape(d.detail.get("layer", ""))}</td>'
                    f"<td>{escape(d.kind)}</td><td>{escape(d.name)}"
                    + (f' <span class="rights">{escape(d.detail["why"])}</span>'
                       if d.detail.get("why") else "")       # an argument denial
                    + f"</td><td>{escape(', '.join(d.rights))}</td><td>{d.count}</td>"
                    f"<td>{escape(who(d.processes))}</td></tr>")
    denials = ("<table id=\"denials\"><tr><th>layer</th><th>kind</th><th>what</th>"
               "<th>rights</th><th>calls</th><th>process</th></tr>" + "".join(rows) +
               "</table>") if rows else "<p>Nothing denied.</p>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>sandprint verify report</title>
<style>{CSS}</style></head><body>
<h1>sandprint verify report ({escape(result.mode)} mode)</h1>
<p class="verdict {cls}" id="verdict">{escape(verdict_line(result))}</p>
<p>Command: <code>{escape(' '.join(result.command))}</code></p>
<h2>{len(result.denials)} {word}</h2>
{denials}
{_seccomp_section(result)}
{_landlock_section(result)}
{_coverage_section(result)}
</body></html>
"""


def write(result, path: str) -> None:
    write_atomic(path, render(result))
