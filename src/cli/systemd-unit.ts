import { isAbsolute } from "node:path";
import { ConfigError, parseFlags, SERVE_OPTIONS } from "../config.ts";
import { VERSION } from "../version.ts";

export const SYSTEMD_USAGE = `Usage: keyward systemd-unit [--binary PATH] [--user NAME]

Prints a hardened systemd unit for keyward (default binary /usr/local/bin/keyward,
user keyward). Install it as /etc/systemd/system/keyward.service.
`;

const SHUTDOWN_DEFAULT_S = SERVE_OPTIONS.find((s) => s.flag === "shutdown-timeout")?.default ?? 30;

/** The unit file text; every non-obvious line says why it is there. */
export function systemdUnit({ binary, user }: { binary: string; user: string }): string {
  return `# keyward.service, printed by \`keyward systemd-unit\` (keyward ${VERSION}).
#
# Setup, as root:
#   useradd --system --home-dir /var/lib/keyward --shell /usr/sbin/nologin ${user}
#   install -d -m 0700 /etc/keyward
#   (umask 077; openssl rand -base64 32 > /etc/keyward/master.key)   # back this file up, apart from backups
#   keyward systemd-unit > /etc/systemd/system/keyward.service
#   systemctl daemon-reload && systemctl enable --now keyward && journalctl -u keyward
# Settings: KEYWARD_* lines in /etc/keyward/keyward.env, or KEYWARD_CONFIG=/etc/keyward/keyward.toml there.

[Unit]
Description=keyward: vault and proxy for LLM provider API keys
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=${user}
Group=${user}
ExecStart=${binary} serve --data-dir /var/lib/keyward
# SIGHUP re-reads the TLS certificate and key (--tls-cert/--tls-key) without dropping streams.
ExecReload=/bin/kill -HUP $MAINPID
EnvironmentFile=-/etc/keyward/keyward.env

# /var/lib/keyward, created and owned by ${user}: keyward.db lives here (not master.key: see below).
StateDirectory=keyward
StateDirectoryMode=0700
WorkingDirectory=/var/lib/keyward
# The master key stays root-only on disk; systemd hands the service a private copy under $CREDENTIALS_DIRECTORY.
LoadCredential=master.key:/etc/keyward/master.key
Environment=KEYWARD_MASTER_KEY_FILE=%d/master.key

# Shutdown: SIGTERM to the main process only (it forwards it to its worker), streams get
# --shutdown-timeout (${SHUTDOWN_DEFAULT_S} s by default) to finish, then the request log is flushed. TimeoutStopSec
# must exceed that, or systemd SIGKILLs a server that is still draining. Raise both together.
KillSignal=SIGTERM
KillMode=mixed
TimeoutStopSec=${SHUTDOWN_DEFAULT_S + 15}
Restart=on-failure
RestartSec=2

# Hardening. keyward needs its state directory, outbound HTTPS and a listening socket; nothing else.
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
# No capabilities at all. To listen on a port below 1024 (e.g. 443), add:
#   AmbientCapabilities=CAP_NET_BIND_SERVICE
#   CapabilityBoundingSet=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=
SystemCallArchitectures=native
UMask=0077
# MemoryDenyWriteExecute= is deliberately absent: keyward runs on a JavaScript engine whose JIT
# compiler writes machine code to memory and then executes it, which that setting forbids (the
# service would crash at start or run without its JIT).

[Install]
WantedBy=multi-user.target
`;
}

/** `keyward systemd-unit`: prints the unit; writes nothing. */
export function systemdUnitCommand(args: string[]): number {
  const flags = parseFlags(args, { binary: { type: "string" }, user: { type: "string" }, help: { type: "boolean", short: "h" } });
  if (flags.values.help) {
    process.stdout.write(SYSTEMD_USAGE);
    return 0;
  }
  if (flags.positionals.length > 0) throw new ConfigError(`Unexpected argument "${flags.positionals[0]}"`);
  const binary = typeof flags.values.binary === "string" ? flags.values.binary : "/usr/local/bin/keyward";
  const user = typeof flags.values.user === "string" ? flags.values.user : "keyward";
  // systemd requires an absolute ExecStart path; a relative one would only fail at `systemctl start`.
  if (!isAbsolute(binary) || /\s/.test(binary)) throw new ConfigError(`Invalid --binary: expected an absolute path without spaces, got "${binary}"`);
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(user)) throw new ConfigError(`Invalid --user: expected a system user name such as keyward, got "${user}"`);
  process.stdout.write(systemdUnit({ binary, user }));
  return 0;
}
