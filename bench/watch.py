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
4. Takes the project down.

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
"""

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
    args = ap.parse_args()
    muster = os.path.abspath(args.muster)
    project = f"bench-watch-{os.getpid()}"
    with tempfile.TemporaryDirectory() as d:
        open(os.path.join(d, "compose.yaml"), "w").write(COMPOSE)
        os.makedirs(os.path.join(d, "www"))
        os.makedirs(os.path.join(d, "tree"))
        open(os.path.join(d, "www", "index.html"), "w").write("start\n")
        try:
            subprocess.run([muster, "-p", project, "up", "-d", "--progress", "quiet"], cwd=d, check=True)
            out = subprocess.run([muster, "-p", project, "ps", "--format", "json"], cwd=d,
                                 check=True, capture_output=True, text=True).stdout
            import json
            ports = json.loads(out)[0]["Ports"]
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
        finally:
            subprocess.run([muster, "-p", project, "down", "-t", "0"], cwd=d,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

if __name__ == "__main__":
    sys.exit(main())
