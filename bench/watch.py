#!/usr/bin/env python3
"""Times `muster watch`: file saved -> new content readable in the container
through a sync rule, and the cost of an idle watch over a large tree.

1. Brings up (muster up -d) a project whose service serves /www with busybox
   httpd on a 127.0.0.1 port, with a `sync` rule ./www -> /www (not
   bind-mounted), and starts `muster watch --no-up`.
2. --edits times: writes a new content to www/index.html and polls the
   page over HTTP until it answers with it; prints median, p90 and max of
   save -> readable.
3. Creates a tree of --files files (in 1,000 directories, plus a
   node_modules of the same size that is never watched), restarts the
   watch with -v, and samples the idle process for --idle-seconds: CPU
   (utime + stime from /proc) and peak RSS (VmHWM).
4. --rebuilds times: a second service, built from a Dockerfile that bakes
   index.html into the image and has a `rebuild` rule, is edited; times
   save -> watch's "rebuilt in ..., recreated, ready in ..." line, takes
   the build's own time from that line, then polls the page until it is
   the new one. Interleaved, `docker build` (classic builder, as muster
   drives it) of a like change in a copy of the context, for reference.
5. Takes the project down and removes the images it built.

Needs the image muster-test/busybox:1 (scripts/seed-images.sh builds it).
Usage: bench/watch.py [--muster target/release/muster] [--edits 50]
                      [--files 100000] [--idle-seconds 20]
"""
import argparse, os, socket, statistics, subprocess, sys, tempfile, time

COMPOSE = """services:
  web:
    image: muster-test/busybox:1
    command: [sh, -c, 'mkdir -p /www && exec httpd -f -p 8080 -h /www']
    ports: ['127.0.0.1:0:8080']
    stop_grace_period: 1s
    develop:
      watch:
        - {path: ./www, target: /www, action: sync}
        - {path: ./tree, target: /tree, action: sync}
  baked:
    build: ./baked
    ports: ['127.0.0.1:%(port)d:8080']
    init: true
    stop_grace_period: 1s
    develop:
      watch:
        - {path: ./baked, action: rebuild}
"""

DOCKERFILE = """FROM muster-test/busybox:1
COPY index.html /www/index.html
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def get(port):
    try:
        return _get(port)
    except OSError:
        return ""

def _get(port):
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.decode(errors="replace")

def start_watch(muster, project, cwd):
    return subprocess.Popen([muster, "-p", project, "watch", "--no-up", "-v"], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

def wait_line(proc, text):
    for line in proc.stderr:
        if text in line:
            return line.strip()
    raise SystemExit(f"watch ended before printing {text!r}")

def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks

def vmhwm(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--muster", default="target/release/muster")
    ap.add_argument("--edits", type=int, default=50)
    ap.add_argument("--files", type=int, default=100000)
    ap.add_argument("--idle-seconds", type=int, default=20)
    ap.add_argument("--rebuilds", type=int, default=10)
    args = ap.parse_args()
    muster = os.path.abspath(args.muster)
    project = f"bench-watch-{os.getpid()}"
    with tempfile.TemporaryDirectory() as d:
        baked_port = free_port()
        open(os.path.join(d, "compose.yaml"), "w").write(COMPOSE % {"port": baked_port})
        for ctx in ("baked", "docker-baked"):
            os.makedirs(os.path.join(d, ctx))
            open(os.path.join(d, ctx, "Dockerfile"), "w").write(DOCKERFILE)
            open(os.path.join(d, ctx, "index.html"), "w").write("start\n")
        built = []
        os.makedirs(os.path.join(d, "www"))
        os.makedirs(os.path.join(d, "tree"))
        open(os.path.join(d, "www", "index.html"), "w").write("start\n")
        try:
            subprocess.run([muster, "-p", project, "up", "-d", "--progress", "quiet"], cwd=d, check=True)
            out = subprocess.run([muster, "-p", project, "ps", "--format", "json"], cwd=d,
                                 check=True, capture_output=True, text=True).stdout
            import json
            ports = next(c["Ports"] for c in json.loads(out) if c["Service"] == "web")
            port = int(ports.split("->")[0].rsplit(":", 1)[1])
            watch = start_watch(muster, project, d)
            wait_line(watch, "watching")
            times = []
            for i in range(args.edits):
                text = f"edit {i} {time.time()}\n"
                t0 = time.perf_counter()
                with open(os.path.join(d, "www", "index.html"), "w") as f:
                    f.write(text)
                while not get(port).endswith(text):
                    time.sleep(0.002)
                times.append(time.perf_counter() - t0)
                time.sleep(0.1)
            watch.terminate(); watch.wait()
            times.sort()
            ms = lambda s: f"{s * 1000:.0f} ms"
            print(f"save -> readable via sync, {args.edits} edits: median {ms(statistics.median(times))}, "
                  f"p90 {ms(times[int(len(times) * 0.9) - 1])}, max {ms(times[-1])}")

            per_dir = max(1, args.files // 1000)
            for root in ("tree", "tree/node_modules"):
                for n in range(1000):
                    sub = os.path.join(d, root, f"d{n}")
                    os.makedirs(sub, exist_ok=True)
                    for k in range(per_dir):
                        open(os.path.join(sub, f"f{k}.txt"), "w").close()
            t0 = time.perf_counter()
            watch = start_watch(muster, project, d)
            line = wait_line(watch, "watching")
            began = time.perf_counter() - t0
            c0, w0 = proc_stat(watch.pid), time.perf_counter()
            time.sleep(args.idle_seconds)
            cpu = (proc_stat(watch.pid) - c0) / (time.perf_counter() - w0) * 100
            print(f"idle watch over {2 * per_dir * 1000} files ({per_dir * 1000} in node_modules): "
                  f"{line.split('] ', 1)[-1]}; ready in {began:.2f} s; "
                  f"idle CPU {cpu:.2f} %; peak RSS {vmhwm(watch.pid):.1f} MB")
            watch.terminate(); watch.wait()

            rebuild_times(args, muster, project, d, baked_port, built)
        finally:
            subprocess.run([muster, "-p", project, "down", "-t", "0"], cwd=d,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run(["docker", "image", "rm", "-f", f"{project}-baked", *built],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run(["docker", "image", "prune", "-f", "--filter", "dangling=true",
                            "--filter", f"label=com.docker.compose.project={project}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def seconds(text):
    """'2.1 s' or '754 ms' -> seconds."""
    value, unit = text.split()
    return float(value) / (1000 if unit == "ms" else 1)

def rebuild_times(args, muster, project, d, port, built):
    """Save -> rebuilt, recreated and serving, against the build's own time
    (as muster reports it) and `docker build` of a like change."""
    if args.rebuilds <= 0:
        return
    watch = start_watch(muster, project, d)
    wait_line(watch, "watching")
    ours, builds, served, theirs = [], [], [], []
    env = dict(os.environ, DOCKER_BUILDKIT="0")
    for i in range(args.rebuilds):
        text = f"rebuild {i} {time.time()}\n"
        t0 = time.perf_counter()
        with open(os.path.join(d, "baked", "index.html"), "w") as f:
            f.write(text)
        # Printed once the new container is ready (started: it has no
        # healthcheck): "baked: rebuilt in 2.9 s, recreated, ready in 754 ms".
        line = wait_line(watch, "rebuilt in")
        ours.append(time.perf_counter() - t0)
        builds.append(seconds(line.split("rebuilt in ", 1)[1].split(",")[0]))
        # Polled only from then on: connections to the published port while
        # the old container goes away delay the new one's first answer by
        # ~0.75 s (the engine's networking; plain `docker rm` + `docker
        # start` does the same).
        while not get(port).endswith(text):
            time.sleep(0.005)
        served.append(time.perf_counter() - t0)
        # docker build of a like change (other content, so no cache hit).
        with open(os.path.join(d, "docker-baked", "index.html"), "w") as f:
            f.write("docker " + text)
        tag = f"{project}-docker-baked:{i}"
        t0 = time.perf_counter()
        subprocess.run(["docker", "build", "-q", "-t", tag, "."], cwd=os.path.join(d, "docker-baked"),
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        theirs.append(time.perf_counter() - t0)
        built.append(tag)
        time.sleep(0.3)
    watch.terminate(); watch.wait()
    rest = sorted(o - b for o, b in zip(ours, builds))
    med = statistics.median
    print(f"save -> rebuilt, recreated and ready, {args.rebuilds} edits: median {med(ours):.2f} s; "
          f"of which the build (muster's own figure) median {med(builds):.2f} s; "
          f"save -> ready minus the build: median {med(rest):.2f} s, max {rest[-1]:.2f} s; "
          f"save -> new page over HTTP: median {med(served):.2f} s")
    print(f"  docker build of a like change (classic builder): median {med(theirs):.2f} s")

if __name__ == "__main__":
    sys.exit(main())
