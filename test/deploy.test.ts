// Past one machine (deploy/): the Zero to JupyterHub values and the exchange's
// volume pass an offline schema check (deploy/k8s/check.py: the chart's own
// schema, Kubernetes' schema for the claim), and the check fails on broken
// copies; the single-user image's install step (deploy/image/install.sh, the
// script the Containerfile runs) sets up a fresh copy of the checkout outside
// the repository, and the result is what the Containerfile's PATH and entry
// point expect. Building the image itself (buildah, a few GB, well over ten
// minutes here) is left to deploy/image/build.sh.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { makeTempDir, removeDir, repoRoot } from "./helpers";

const python = path.join(repoRoot, ".venv", "bin", "python");
const check = path.join(repoRoot, "deploy", "k8s", "check.py");
const values = fs.readFileSync(path.join(repoRoot, "deploy", "k8s", "values.yaml"), "utf8");
const pvc = fs.readFileSync(path.join(repoRoot, "deploy", "k8s", "exchange-pvc.yaml"), "utf8");

function runCheck(args: string[]) {
  const r = spawnSync(python, [check, ...args], { encoding: "utf8", timeout: 60_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** Replaces exactly one occurrence of `from`, so a mutation cannot silently miss. */
function mutate(text: string, from: string, to: string): string {
  assert.equal(text.split(from).length, 2, `expected exactly one '${from}' to mutate`);
  return text.replace(from, to);
}

test("deploy: the values and the exchange's claim pass the offline schema check", () => {
  const r = runCheck([]);
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, /^ok: .*values\.yaml .*exchange-pvc\.yaml/m);
});

test("deploy: the check fails on broken values or a broken claim, naming what is wrong", () => {
  const tmp = makeTempDir("fmnist-deploy-check-");
  try {
    const cases: { name: string; file: "values" | "pvc"; text: string; expect: RegExp }[] = [
      {
        name: "a misspelled key",
        file: "values",
        text: mutate(values, "  memory:\n", "  memroy:\n"),
        expect: /singleuser: Additional properties are not allowed \('memroy' was unexpected\)/,
      },
      {
        name: "a CPU limit given as text",
        file: "values",
        text: mutate(values, "    limit: 2\n", '    limit: "two"\n'),
        expect: /singleuser\.cpu\.limit: 'two' is not of type 'number', 'null'/,
      },
      {
        name: "the image without a tag",
        file: "values",
        text: mutate(values, '    tag: "0.1.0"\n', "    tag:\n"),
        expect: /singleuser\.image: 'tag' is a required property/,
      },
      {
        name: "the exchange on another claim",
        file: "values",
        text: mutate(values, "          claimName: nbgrader-exchange", "          claimName: exchange"),
        expect: /claim 'exchange', but .* makes 'nbgrader-exchange'/,
      },
      {
        name: "the submission service without the exchange",
        file: "values",
        text: mutate(
          values,
          "      mountPath: /srv/nbgrader/exchange\n  extraConfig:",
          "      mountPath: /srv/x\n  extraConfig:",
        ),
        expect: /hub\.extraVolumeMounts: the submission service files submissions into the exchange/,
      },
      {
        name: "students' servers given another address than the submission service's",
        file: "values",
        text: mutate(values, "      url: http://hub:10101\n", "      url: http://hub:10102\n"),
        expect: /singleuser\.extraEnv\.FM_EXCHANGE_URL .* is not under hub\.services\.fm-exchange\.url/,
      },
      {
        name: "hub.extraConfig that is not Python",
        file: "values",
        text: mutate(values, "      def fm_roles(spawner):", "      def fm_roles(spawner)"),
        expect: /hub\.extraConfig\.fm-class line \d+: /,
      },
      {
        name: "an unknown field in the claim",
        file: "pvc",
        text: mutate(pvc, "  accessModes:", "  accesModes:"),
        expect: /spec: Additional properties are not allowed \('accesModes' was unexpected\)/,
      },
      {
        name: "a claim only one server can mount",
        file: "pvc",
        text: mutate(pvc, "[ReadWriteMany]", "[ReadWriteOnce]"),
        expect: /spec\.accessModes: .* needs ReadWriteMany/,
      },
    ];
    for (const c of cases) {
      const file = path.join(tmp, `${c.file}.yaml`);
      fs.writeFileSync(file, c.text);
      const r = runCheck([c.file === "values" ? "--values" : "--pvc", file]);
      assert.equal(r.status, 1, `${c.name}: expected the check to fail\n${r.output}`);
      assert.match(r.output, c.expect, c.name);
      assert.ok(r.output.includes(file), `${c.name}: the message names the file\n${r.output}`);
    }
  } finally {
    removeDir(tmp);
  }
});

/** The checkout's files as git sees them (tracked, and new files not ignored): what a clone or the image gets. */
function checkoutFiles(): string[] {
  const r = spawnSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
    cwd: repoRoot,
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split("\0").filter((f) => f && fs.existsSync(path.join(repoRoot, f)));
}

test("deploy: the image's install script sets up a fresh copy outside the repository", { timeout: 20 * 60_000 }, () => {
  const tmp = makeTempDir("fmnist-deploy-install-");
  const app = path.join(tmp, "app");
  try {
    // Servers run as other users than the one who installed (setup-hub.sh checks): the folder must be open to them.
    fs.chmodSync(tmp, 0o755);
    for (const f of checkoutFiles()) {
      fs.mkdirSync(path.dirname(path.join(app, f)), { recursive: true });
      fs.copyFileSync(path.join(repoRoot, f), path.join(app, f));
      fs.chmodSync(path.join(app, f), fs.statSync(path.join(repoRoot, f)).mode);
    }
    // The 270 MB tensorflow-cpu wheel is a download cache: share the checkout's
    // (a hard link) rather than fetch it again. Everything else is made anew.
    const wheels = path.join(repoRoot, ".cache", "wheels");
    if (fs.existsSync(wheels)) {
      fs.mkdirSync(path.join(app, ".cache", "wheels"), { recursive: true });
      for (const w of fs.readdirSync(wheels).filter((n) => n.endsWith(".whl"))) {
        fs.linkSync(path.join(wheels, w), path.join(app, ".cache", "wheels", w));
      }
    }

    const started = Date.now();
    const r = spawnSync("bash", [path.join(app, "deploy", "image", "install.sh")], {
      cwd: tmp,
      encoding: "utf8",
      timeout: 18 * 60_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    const output = `${r.stdout}${r.stderr}`;
    assert.equal(r.status, 0, `install.sh failed (${r.signal ?? r.status}):\n${output.slice(-6000)}`);
    const pinned = /^jupyterhub==(\S+)$/m.exec(
      fs.readFileSync(path.join(repoRoot, "jupyter", "hub", "requirements.txt"), "utf8"),
    )?.[1];
    assert.ok(pinned, "jupyterhub is pinned in jupyter/hub/requirements.txt");
    assert.match(
      output,
      new RegExp(
        `ok: tslab kernel registered, jupyterhub-singleuser ${pinned.replace(/\./g, "\\.")}, ` +
          "library on the tensorflow 3,7 backend",
      ),
    );
    console.log(`# install.sh on a fresh copy: ${((Date.now() - started) / 1000).toFixed(0)} s`);

    // The kernel the servers see runs the copy's own tslab, not the checkout's.
    const kernel = JSON.parse(
      fs.readFileSync(
        path.join(app, ".cache", "hub", "venv", "share", "jupyter", "kernels", "tslab", "kernel.json"),
        "utf8",
      ),
    ) as { argv: string[] };
    assert.ok(kernel.argv[0].startsWith(app + path.sep), `kernel runs ${kernel.argv[0]}`);
    assert.ok(fs.existsSync(kernel.argv[0]), kernel.argv[0]);

    // Every folder the Containerfile puts on PATH under the checkout exists in the copy, with what the spawner runs.
    const containerfile = fs.readFileSync(path.join(repoRoot, "deploy", "image", "Containerfile"), "utf8");
    assert.match(containerfile, /^ && PATH=\S+ deploy\/image\/install\.sh \\$/m, "the Containerfile runs install.sh");
    const envPath = /^ENV PATH=(\S+)/m.exec(containerfile)?.[1];
    assert.ok(envPath, "the Containerfile sets PATH");
    const inApp = envPath.split(":").filter((d) => d.startsWith("/opt/fashion-mnist/"));
    assert.equal(inApp.length, 2, envPath);
    const imagePath = inApp.map((d) => path.join(app, d.slice("/opt/fashion-mnist/".length)));
    for (const [dir, exe] of [
      [imagePath[0], "jupyterhub-singleuser"],
      [imagePath[1], "node"],
    ]) {
      assert.ok(fs.existsSync(path.join(dir, exe)), `${exe} in ${dir}`);
    }

    // The entry point fills an empty home (as an instructor: the course's grading configuration too), then runs the command.
    const home = path.join(tmp, "home");
    fs.mkdirSync(home);
    const course = path.join(home, "course");
    const start = spawnSync(path.join(app, "deploy", "image", "start.sh"), ["jupyterhub-singleuser", "--version"], {
      encoding: "utf8",
      timeout: 60_000,
      env: { HOME: home, PATH: `${imagePath.join(":")}:/usr/bin:/bin`, FM_COURSE_DIR: course },
    });
    assert.equal(start.status, 0, `${start.stdout}${start.stderr}`);
    assert.equal(start.stdout.trim(), pinned);
    assert.equal(fs.readlinkSync(path.join(home, "node_modules")), path.join(app, "node_modules"));
    assert.ok(fs.existsSync(path.join(home, "fashion-mnist-cnn.ipynb")));
    assert.ok(fs.statSync(path.join(home, "data")).isDirectory());
    for (const f of ["nbgrader_config.py", "tslab_grading.py", "kernel_sandbox.py"]) {
      assert.ok(fs.existsSync(path.join(course, f)), `~/course/${f}`);
    }
  } finally {
    removeDir(tmp);
  }
});
