"""Differential check against ansible-core (run by TestDifferentialWithAnsible).

Writes random INI and YAML inventories under OUTDIR, evaluates each with
ansible-core's own InventoryManager and VariableManager, and prints, as
JSON, what Ansible answers: an error, or the hosts of a set of patterns,
the groups magic variable and each host's variables.

usage: differential.py SEED COUNT OUTDIR
"""
import json
import os
import random
import sys

os.environ["ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED"] = "1"

from ansible import context  # noqa: E402
from ansible.module_utils.common.collections import ImmutableDict  # noqa: E402

context.CLIARGS = ImmutableDict({})

from ansible.inventory.manager import InventoryManager  # noqa: E402
from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.utils.display import Display  # noqa: E402
from ansible.vars.manager import VariableManager  # noqa: E402

import yaml  # noqa: E402

Display().verbosity = -1

GROUPS = ["web", "db", "k8s", "masters", "workers", "edge", "lb"]
KEYS = ["a", "b", "level", "ansible_port", "ansible_group_priority"]
PATTERNS = ["all", "*", "web", "k8s:!masters", "web:&db", "~h[12]", "db*",
            "masters:workers", "nosuch", "edge,lb", "ungrouped", "localhost",
            "all:!web", "!db", "kcm-?", "h3"]


def ini_inventory(rnd):
    hosts = ["h1", "h2", "web1", "db-[1:3]", "n[01:03]", "h3:2222",
             "10.0.0.[1:2]", "localhost", "kcm-[a:c]"]
    vals = ["1", "True", "yes", "'x y'", "[1, 2]", "0755", "1.5", '"q"',
            "{'a': 1}", "None", "plain text", "-0x10", "1e3"]
    lines = []
    if rnd.random() < 0.5:
        lines += rnd.sample(hosts, rnd.randint(1, 2))
    for _ in range(rnd.randint(1, 6)):
        g = rnd.choice(GROUPS + ["all", "ungrouped"])
        kind = rnd.choice(["", "", ":vars", ":children"])
        if g in ("all", "ungrouped") and kind != ":vars":
            kind = ":vars"
        lines.append("[%s%s]" % (g, kind))
        pool = rnd.sample(hosts, 4)  # no host twice in one section
        for _ in range(rnd.randint(0, 3)):
            if kind == "":
                var = " ".join("%s=%s" % (rnd.choice(KEYS[:4]), rnd.choice(vals).replace(" ", "_"))
                               for _ in range(rnd.randint(0, 2)))
                lines.append((pool.pop() + " " + var).strip())
            elif kind == ":vars":
                k = rnd.choice(KEYS)
                v = str(rnd.randint(0, 9)) if k == "ansible_group_priority" else rnd.choice(vals)
                lines.append("%s=%s" % (k, v))
            else:
                lines.append(rnd.choice(GROUPS))
    return "hosts", "\n".join(lines) + "\n"


def yaml_inventory(rnd):
    hosts = ["h1", "h2", "web[1:2]", "db-[a:b]", "h3:2200", "localhost"]
    vals = [1, "x", True, "yes", [1, "a"], {"k": "v"}, None, 1.5, "0755"]

    def gvars():
        d = {}
        for _ in range(rnd.randint(0, 3)):
            k = rnd.choice(KEYS)
            d[k] = rnd.randint(0, 5) if k == "ansible_group_priority" else rnd.choice(vals)
        return d

    def group(depth):
        if rnd.random() < 0.15:
            return None
        g = {}
        if rnd.random() < 0.6:
            hs = rnd.sample(hosts, rnd.randint(1, 3))
            g["hosts"] = {h: (gvars() or None) for h in hs} if rnd.random() < 0.9 else hs[0]
        if rnd.random() < 0.5:
            g["vars"] = gvars()
        if depth < 3 and rnd.random() < 0.5:
            g["children"] = {c: group(depth + 1) for c in rnd.sample(GROUPS, rnd.randint(1, 2))}
        return g

    top = {g: group(1) for g in rnd.sample(GROUPS + ["all"], rnd.randint(1, 3))}
    return "hosts.yml", yaml.safe_dump(top, default_flow_style=False, sort_keys=False)


def main():
    seed, count, outdir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    rnd = random.Random(seed)
    out = []
    for i in range(count):
        name, text = (ini_inventory if i % 2 == 0 else yaml_inventory)(rnd)
        d = os.path.join(outdir, str(i))
        os.makedirs(os.path.join(d, "group_vars"))
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(text)
        if rnd.random() < 0.5:
            g = rnd.choice(GROUPS + ["all"])
            with open(os.path.join(d, "group_vars", g + ".yml"), "w") as f:
                f.write("level: gv_%s\nb: gv\n" % g)
        res = {"path": path}
        try:
            loader = DataLoader()
            inv = InventoryManager(loader=loader, sources=[path])
            vm = VariableManager(loader=loader, inventory=inv)
            res["patterns"] = {p: [h.name for h in inv.get_hosts(p)] for p in PATTERNS}
            res["groups"] = {g: [h.name for h in grp.get_hosts()] for g, grp in inv.groups.items()}
            res["hostvars"] = {}
            for h in inv.get_hosts("all"):
                v = vm.get_vars(host=h, include_hostvars=False, stage="all")
                res["hostvars"][h.name] = {k: v[k] for k in v if k in KEYS}
        except Exception as e:  # Ansible refuses the inventory
            res["error"] = str(e).splitlines()[0][:300]
        out.append(res)
    json.dump(out, sys.stdout, default=str)


main()
