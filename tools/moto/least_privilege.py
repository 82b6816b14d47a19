"""Least privilege, measured: what each role of the deployed stack is granted beside what its
function (or the state machine) did with it.

Reads the report of tools/moto/deploy_stack.py (each role's policies, inline and attached, as IAM
holds them) and the authorization log of tools/moto/isolated_server.py (every check moto made once
IAM was enforced: caller, action, resource, allowed), and prints JSON:

- `roles`: per function, each statement with the calls it permitted per action, and how many of
  them no other statement of the role permits (`sole`: the calls that would be denied without it);
- `denied`: the calls a role made and was refused (used, not granted);
- `unused`: the actions a statement grants that no call used, unless `documented` (the table under
  "## Granted, not used by the scenarios" in the document given: function, statement (its Sid, else
  its policy's name), action, and the path that needs it; each may be a glob, `*` for any);
- `redundant`: the statements that permitted no call on their own (removing one would fail no
  call), unless each of their actions is documented;
- `markdown`: the table, for the test's output and docs/benchmarks/iam.md.

A statement is matched as moto's enforcement matches it (moto's own IAMPolicyStatement).

Usage: least_privilege.py REPORT_JSON AUTHORIZATION_LOG DOCUMENTED_MD
"""

import collections
import fnmatch
import json
import re
import sys

from moto.iam.access_control import IAMPolicyStatement, PermissionResult

DOCUMENTED_HEADING = "## Granted, not used by the scenarios"


def as_list(value):
    return value if isinstance(value, list) else [value]


def documented_rows(path):
    """(function, statement, action) patterns the document explains (globs: `*` for any)."""
    rows, inside = set(), False
    for line in open(path, encoding="utf-8"):
        if line.startswith("## "):
            inside = line.strip() == DOCUMENTED_HEADING
            continue
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if inside and line.startswith("|") and len(cells) >= 4 and not set(cells[0]) <= set("-: "):
            if cells[0] != "Function":
                rows.add(tuple(cells[:3]))
    return rows


def explained(documented, function, statement, action):
    return any(
        all(fnmatch.fnmatchcase(value, pattern) for pattern, value in zip(row, (function, statement, action)))
        for row in documented
    )


def statements(policies):
    for kind in ("inline", "managed"):
        for name, document in sorted(policies[kind].items()):
            for index, statement in enumerate(as_list(document["Statement"])):
                if statement.get("Effect") == "Allow":
                    yield {
                        "policy": name,
                        "managed": kind == "managed",
                        "sid": statement.get("Sid") or f"#{index + 1}",
                        # How the document names it: its Sid, else its policy's name.
                        "name": statement.get("Sid") or name,
                        "statement": statement,
                    }


def permits(statement, action, resource):
    return IAMPolicyStatement(statement).is_action_permitted(action, resource) == PermissionResult.PERMITTED


def caller_function(caller, functions_by_role):
    match = re.match(r"arn:aws:sts::\d+:assumed-role/([^/]+)/", caller)
    return functions_by_role.get(match.group(1)) if match else None


def main(report_path, log_path, documented_path):
    report = json.load(open(report_path))
    documented = documented_rows(documented_path)
    functions_by_role = {policies["role"]: function for function, policies in report["policies"].items()}
    calls = collections.defaultdict(collections.Counter)
    for line in open(log_path):
        entry = json.loads(line)
        function = caller_function(entry["caller"], functions_by_role)
        if function:
            calls[function][(entry["action"], entry["resource"], entry["allowed"])] += 1

    result = {"roles": [], "denied": [], "unused": [], "redundant": []}
    for function, policies in sorted(report["policies"].items()):
        made = calls[function]
        granted = list(statements(policies))
        rows = []
        for grant in granted:
            actions = as_list(grant["statement"].get("Action", []))
            used = {action: 0 for action in actions}
            sole = 0
            for (action, resource, allowed), count in made.items():
                if not allowed or not permits(grant["statement"], action, resource):
                    continue
                for pattern in actions:
                    if permits({**grant["statement"], "Action": pattern}, action, resource):
                        used[pattern] += count
                others = [g for g in granted if g is not grant and permits(g["statement"], action, resource)]
                sole += 0 if others else count
            row = {key: grant[key] for key in ("policy", "managed", "name")}
            row.update(resources=as_list(grant["statement"].get("Resource", "*")), used=used, sole=sole)
            rows.append(row)
            for action, count in used.items():
                if count == 0 and not explained(documented, function, grant["name"], action):
                    result["unused"].append({"function": function, "statement": grant["name"], "action": action})
            if sole == 0 and not all(explained(documented, function, grant["name"], a) for a in actions):
                result["redundant"].append({"function": function, "statement": grant["name"]})
        for (action, resource, allowed), count in sorted(made.items()):
            if not allowed:
                result["denied"].append({"function": function, "action": action, "resource": resource, "count": count})
        result["roles"].append({"function": function, "role": policies["role"], "statements": rows})
    result["markdown"] = markdown(result["roles"])
    json.dump(result, sys.stdout, indent=1)


def markdown(roles):
    lines = []
    for role in roles:
        lines.append(f"### {role['function']} (`{role['role']}`)")
        lines.append("")
        lines.append("| Statement | Action | Calls permitted | Only this statement permits |")
        lines.append("|---|---|---:|---:|")
        for row in role["statements"]:
            name = row["name"] + (" (AWS-managed)" if row["managed"] else "")
            for index, (action, count) in enumerate(row["used"].items()):
                lines.append(f"| {name if index == 0 else ''} | `{action}` | {count} | {row['sole'] if index == 0 else ''} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main(*sys.argv[1:])
