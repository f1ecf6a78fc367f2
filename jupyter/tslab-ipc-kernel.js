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
