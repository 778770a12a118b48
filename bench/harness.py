#!/usr/bin/env python3
"""A test's stack, up and gone again: muster's harness vs docker-compose.

For each round, in turn:
  muster          `muster -f FILE test --progress quiet -- true`: the harness
                  brings the stack up under a fresh project name, waits
                  until every service is ready, runs `true`, and tears the
                  stack down (`down -v`). One wall-clock figure, process
                  start to exit.
  docker-compose  `docker-compose -f FILE -p P up -d`, then polling until
                  every container runs and every healthcheck's own test
                  passes under `docker exec` (as ../shared/bench/compare.py
                  does), then `docker-compose -f FILE -p P down -v` with
                  its default grace period, and again with `-t 0` (a test
                  stack is thrown away, which is what muster's harness does
                  by default).
After each run the script checks that nothing of the project is left.
Prints the medians and the median of the per-round ratios.

Usage: bench/harness.py --file ../shared/bench/stacks/chain/compose.yaml \
         [--muster target/release/muster] [--rounds 5]
Seed the image first: ../shared/bench/seed-busybox.sh
"""
import argparse, json, statistics, subprocess, sys, time

def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)

def containers(project, all_=False):
    args = ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={project}"]
    if all_:
        args.insert(2, "-a")
    return [c for c in sh(args).stdout.split() if c]

def ready(project, expected):
    ids = containers(project)
    if len(ids) < expected:
        return False
    info = json.loads(sh(["docker", "inspect", *ids]).stdout or "[]")
    for c in info:
        if not c["State"]["Running"]:
            return False
        hc = (c["Config"].get("Healthcheck") or {}).get("Test") or []
        if not hc or hc[0] == "NONE":
            continue
        test = hc[1:] if hc[0] == "CMD" else ["sh", "-c", hc[1]]
        if sh(["docker", "exec", c["Id"], *test]).returncode != 0:
            return False
    return True

def harness_leftovers():
    return sh(["docker", "ps", "-aq", "--filter", "label=dev.muster.harness"]).stdout.split()

def muster(binary, file):
    t0 = time.monotonic()
    p = sh([binary, "-f", file, "test", "--progress", "quiet", "--", "true"], timeout=300)
    took = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit(f"muster test failed ({p.returncode}):\n{p.stderr[-3000:]}")
    if harness_leftovers():
        sys.exit("muster test left containers behind")
    return took

def compose(file, project, expected, down_args, deadline):
    t0 = time.monotonic()
    p = sh(["docker-compose", "-f", file, "-p", project, "up", "-d"], timeout=300)
    if p.returncode != 0:
        sys.exit(f"docker-compose up failed:\n{p.stderr[-3000:]}")
    while not ready(project, expected):
        if time.monotonic() - t0 > deadline:
            sys.exit(f"docker-compose: not ready after {deadline} s")
        time.sleep(0.05)
    up = time.monotonic() - t0
    p = sh(["docker-compose", "-f", file, "-p", project, "down", "-v", *down_args], timeout=300)
    if p.returncode != 0:
        sys.exit(f"docker-compose down failed:\n{p.stderr[-3000:]}")
    total = time.monotonic() - t0
    if containers(project, all_=True):
        sys.exit("docker-compose down left containers behind")
    return up, total

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--file", required=True)
    ap.add_argument("--services", type=int, default=5, help="containers the stack runs")
    ap.add_argument("--muster", default="target/release/muster")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--deadline", type=float, default=120)
    o = ap.parse_args()
    rows = []
    for r in range(o.rounds):
        m = muster(o.muster, o.file)
        up, dc = compose(o.file, "benchharness", o.services, [], o.deadline)
        _, dc0 = compose(o.file, "benchharness", o.services, ["-t", "0"], o.deadline)
        rows.append((m, up, dc, dc0))
        print(f"round {r + 1}: muster {m:.2f} s | docker-compose up+health {up:.2f} s, "
              f"+down {dc:.2f} s, with down -t 0 {dc0:.2f} s", flush=True)
    med = lambda i: statistics.median(x[i] for x in rows)
    ratio = lambda i: statistics.median(x[0] / x[i] for x in rows)
    print(f"\nmedians over {o.rounds} rounds")
    print(f"  muster test -- true (up, ready, down -v):          {med(0):6.2f} s")
    print(f"  docker-compose up -d + health + down -v:           {med(2):6.2f} s   muster/compose {ratio(2):.3f}")
    print(f"  docker-compose up -d + health + down -v -t 0:      {med(3):6.2f} s   muster/compose {ratio(3):.3f}")
    print(f"  (docker-compose up -d + health alone:              {med(1):6.2f} s)")

if __name__ == "__main__":
    main()
