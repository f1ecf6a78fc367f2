# A Lab terminal on the class hub (jupyter/hub/fm_hub_server.py, terminal_path):
# an interactive shell with the user's own settings, then the PATH the Jupyter
# server runs with first (the kernel's Node, the hub's Python with nbgrader).
[ -r /etc/bash.bashrc ] && . /etc/bash.bashrc
[ -r "$HOME/.bashrc" ] && . "$HOME/.bashrc"
[ -n "${FM_SERVER_PATH:-}" ] && PATH="$FM_SERVER_PATH:$PATH" && export PATH
