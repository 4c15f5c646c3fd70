"""What several commands use, one piece per file: the bridge-family model, the HTTP client, the
reader of secrets and tokens, files, homeserver.yaml, Matrix names, arguments and exit codes."""
