// Starts tslab's kernel for a client that talks to it over Unix sockets (the
// "ipc" transport), which is how a grader reaches a kernel sandboxed without
// a network. jupyter_client names an ipc socket `<ip>-<port>`; tslab 1.0.22
// builds every address as `<transport>://<ip>:<port>`, so on ipc it would bind
// sockets no client looks for. Only that address changes here; tcp is as tslab
// has it. Usage: node tslab-ipc-kernel.js CONNECTION_FILE
"use strict";
const jupyter = require("tslab/dist/jupyter");
const { startKernel } = require("tslab/dist/main");

const bindSocket = jupyter.ZmqServer.prototype.bindSocket;
jupyter.ZmqServer.prototype.bindSocket = async function (sock, port) {
  const conn = this.connInfo;
  if (conn.transport !== "ipc") return bindSocket.call(this, sock, port);
  await sock.bind(`ipc://${conn.ip}-${port}`);
};

// While grading (the course's nbgrader_config.py sets FMNIST_GRADING_MAX_WRITE_KB
// for the kernels nbgrader starts), one write to stdout or stderr sends at most
// that much: the grader keeps a bounded part of each cell's output anyway, and a
// single 200 MB print would otherwise arrive, and be decoded, as one message.
// (A little under the limit, so the line saying how much was cut still fits.)
const maxWrite = Math.max(1, Number(process.env.FMNIST_GRADING_MAX_WRITE_KB || 0) * 1024 - 256);
if (Number(process.env.FMNIST_GRADING_MAX_WRITE_KB || 0) > 0) {
  const createWriteToIopub = jupyter.JupyterHandlerImpl.prototype.createWriteToIopub;
  jupyter.JupyterHandlerImpl.prototype.createWriteToIopub = function (name, writeStream) {
    const cut = (stream, text) => {
      if (typeof text === "string" && text.length > maxWrite)
        text = `${text.slice(0, maxWrite)}\n[${text.length - maxWrite} more characters of this write dropped]\n`;
      writeStream(stream, text);
    };
    return createWriteToIopub.call(this, name, cut);
  };
}

const configPath = process.argv[2];
if (!configPath) {
  console.error("usage: node tslab-ipc-kernel.js CONNECTION_FILE");
  process.exit(2);
}
// The command line tslab itself is started with, for code that asks whether it
// runs in a kernel (fashion-mnist-lib's inNotebook reads process.argv).
process.argv = [process.argv[0], require.resolve("tslab/bin/tslab"), "kernel", "--config-path", configPath];
// enableFindLocal: false, so a tslab copy in the notebook's own folder (which a
// student controls) is never the one started.
startKernel({ configPath, enableFindLocal: false });
