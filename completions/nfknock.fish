# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_nfknock_global_optspecs
    string join \n c/config= q/quiet v/verbose h/help V/version
end

function __fish_nfknock_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_nfknock_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_nfknock_using_subcommand
    set -l cmd (__fish_nfknock_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c nfknock -n "__fish_nfknock_needs_command" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_needs_command" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_needs_command" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c nfknock -n "__fish_nfknock_needs_command" -s V -l version -d 'Print version'
complete -c nfknock -n "__fish_nfknock_needs_command" -f -a "check" -d 'Parse and validate the configuration; print a summary'
complete -c nfknock -n "__fish_nfknock_needs_command" -f -a "show" -d 'Print the ruleset that `apply` would load'
complete -c nfknock -n "__fish_nfknock_needs_command" -f -a "apply" -d 'Validate, render and load the rules atomically (root)'
complete -c nfknock -n "__fish_nfknock_needs_command" -f -a "confirm" -d 'Keep the rules of a pending `apply --confirm`, and save them for boot (root)'
complete -c nfknock -n "__fish_nfknock_needs_command" -f -a "rotate" -d 'Load rotating doors\' sequences of the previous, current and next period (root; run by nfknock-rotate.timer)'
complete -c nfknock -n "__fish_nfknock_needs_command" -f -a "gen-secret" -d 'Write a new random secret for a rotating door (mode 0600; never overwrites)'
complete -c nfknock -n "__fish_nfknock_needs_command" -f -a "rollback" -d 'Put back the rules of a pending `apply --confirm` once it is due (internal)'
complete -c nfknock -n "__fish_nfknock_needs_command" -f -a "restore" -d 'Load the ruleset the last `apply` saved, as at boot (root)'
complete -c nfknock -n "__fish_nfknock_needs_command" -f -a "remove" -d 'Remove everything nfknock added; other rules stay (root)'
complete -c nfknock -n "__fish_nfknock_needs_command" -f -a "status" -d 'Show doors, sources mid-sequence, open doors and counters (root)'
complete -c nfknock -n "__fish_nfknock_needs_command" -f -a "metrics" -d 'Print the counters and gauges of `status` for Prometheus (root)'
complete -c nfknock -n "__fish_nfknock_needs_command" -f -a "transient" -d 'Let networks in without knocking until the next apply or reboot (root)'
complete -c nfknock -n "__fish_nfknock_needs_command" -f -a "knock" -d 'Send a knock sequence to HOST (no root needed)'
complete -c nfknock -n "__fish_nfknock_needs_command" -f -a "connect" -d 'Knock, connect to HOST PORT once the door opens, relay stdin and stdout (an ssh ProxyCommand; no root needed)'
complete -c nfknock -n "__fish_nfknock_needs_command" -f -a "watch" -d 'Follow the kernel\'s messages in the journal and mail every knock'
complete -c nfknock -n "__fish_nfknock_needs_command" -f -a "notify-test" -d 'Send one test mail with the [notify] settings'
complete -c nfknock -n "__fish_nfknock_needs_command" -f -a "watch-view" -d 'Print the watcher\'s view of the config: [log], [notify] and door names, no knock or secret (root; read by nfknock-watch.service through a socket)'
complete -c nfknock -n "__fish_nfknock_needs_command" -f -a "gen-sequence" -d 'Print a random strong knock sequence'
complete -c nfknock -n "__fish_nfknock_needs_command" -f -a "config" -d 'Read or change one key of the config, keeping comments and layout'
complete -c nfknock -n "__fish_nfknock_needs_command" -f -a "import" -d 'Print an nfknock.toml equivalent to the original nfknock\'s nfknock.cfg or a knockd.conf'
complete -c nfknock -n "__fish_nfknock_needs_command" -f -a "completions" -d 'Print shell completions'
complete -c nfknock -n "__fish_nfknock_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nfknock -n "__fish_nfknock_using_subcommand check" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand check" -l show-secrets -d 'Print the knock sequences too'
complete -c nfknock -n "__fish_nfknock_using_subcommand check" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_using_subcommand check" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_using_subcommand check" -s h -l help -d 'Print help'
complete -c nfknock -n "__fish_nfknock_using_subcommand show" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand show" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_using_subcommand show" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_using_subcommand show" -s h -l help -d 'Print help'
complete -c nfknock -n "__fish_nfknock_using_subcommand apply" -l confirm -d 'Put the previous rules back after SECS unless `nfknock confirm` runs first' -r
complete -c nfknock -n "__fish_nfknock_using_subcommand apply" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand apply" -l no-persist -d 'Do not save the loaded ruleset for `restore` at boot'
complete -c nfknock -n "__fish_nfknock_using_subcommand apply" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_using_subcommand apply" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_using_subcommand apply" -s h -l help -d 'Print help'
complete -c nfknock -n "__fish_nfknock_using_subcommand confirm" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand confirm" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_using_subcommand confirm" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_using_subcommand confirm" -s h -l help -d 'Print help'
complete -c nfknock -n "__fish_nfknock_using_subcommand rotate" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand rotate" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_using_subcommand rotate" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_using_subcommand rotate" -s h -l help -d 'Print help'
complete -c nfknock -n "__fish_nfknock_using_subcommand gen-secret" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand gen-secret" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_using_subcommand gen-secret" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_using_subcommand gen-secret" -s h -l help -d 'Print help'
complete -c nfknock -n "__fish_nfknock_using_subcommand rollback" -l token -r
complete -c nfknock -n "__fish_nfknock_using_subcommand rollback" -l after -d 'Seconds to wait first' -r
complete -c nfknock -n "__fish_nfknock_using_subcommand rollback" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand rollback" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_using_subcommand rollback" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_using_subcommand rollback" -s h -l help -d 'Print help'
complete -c nfknock -n "__fish_nfknock_using_subcommand restore" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand restore" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_using_subcommand restore" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_using_subcommand restore" -s h -l help -d 'Print help'
complete -c nfknock -n "__fish_nfknock_using_subcommand remove" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand remove" -l no-persist -d 'Keep the saved ruleset'
complete -c nfknock -n "__fish_nfknock_using_subcommand remove" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_using_subcommand remove" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_using_subcommand remove" -s h -l help -d 'Print help'
complete -c nfknock -n "__fish_nfknock_using_subcommand status" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand status" -l json -d 'Print JSON for scripts'
complete -c nfknock -n "__fish_nfknock_using_subcommand status" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_using_subcommand status" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_using_subcommand status" -s h -l help -d 'Print help'
complete -c nfknock -n "__fish_nfknock_using_subcommand metrics" -l textfile -d 'Write DIR/nfknock.prom atomically instead, for node_exporter\'s textfile collector (Debian: /var/lib/prometheus/node-exporter)' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand metrics" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand metrics" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_using_subcommand metrics" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_using_subcommand metrics" -s h -l help -d 'Print help'
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and not __fish_seen_subcommand_from add del flush list help" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and not __fish_seen_subcommand_from add del flush list help" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and not __fish_seen_subcommand_from add del flush list help" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and not __fish_seen_subcommand_from add del flush list help" -s h -l help -d 'Print help'
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and not __fish_seen_subcommand_from add del flush list help" -f -a "add" -d 'Let these networks through the doors (guard) or the firewall'
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and not __fish_seen_subcommand_from add del flush list help" -f -a "del" -d 'Remove these networks (each exactly as added)'
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and not __fish_seen_subcommand_from add del flush list help" -f -a "flush" -d 'Remove all transient networks'
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and not __fish_seen_subcommand_from add del flush list help" -f -a "list" -d 'Show the transient networks'
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and not __fish_seen_subcommand_from add del flush list help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and __fish_seen_subcommand_from add" -l timeout -d 'Forget them after this long, e.g. 2h [default: at the next apply or reboot]' -r
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and __fish_seen_subcommand_from add" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and __fish_seen_subcommand_from add" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and __fish_seen_subcommand_from add" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and __fish_seen_subcommand_from del" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and __fish_seen_subcommand_from del" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and __fish_seen_subcommand_from del" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and __fish_seen_subcommand_from del" -s h -l help -d 'Print help'
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and __fish_seen_subcommand_from flush" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and __fish_seen_subcommand_from flush" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and __fish_seen_subcommand_from flush" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and __fish_seen_subcommand_from flush" -s h -l help -d 'Print help'
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and __fish_seen_subcommand_from list" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and __fish_seen_subcommand_from list" -l json -d 'Print JSON for scripts'
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and __fish_seen_subcommand_from list" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and __fish_seen_subcommand_from help" -f -a "add" -d 'Let these networks through the doors (guard) or the firewall'
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and __fish_seen_subcommand_from help" -f -a "del" -d 'Remove these networks (each exactly as added)'
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and __fish_seen_subcommand_from help" -f -a "flush" -d 'Remove all transient networks'
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and __fish_seen_subcommand_from help" -f -a "list" -d 'Show the transient networks'
complete -c nfknock -n "__fish_nfknock_using_subcommand transient; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nfknock -n "__fish_nfknock_using_subcommand knock" -l door -d 'Which door\'s sequence to send [default: the only door]' -r
complete -c nfknock -n "__fish_nfknock_using_subcommand knock" -l secret-file -d 'Derive a rotating door\'s sequence from this secret, without a config or hosts.toml (needs --door and --door-port)' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand knock" -l door-port -d 'With --secret-file: the rotating door\'s hidden port, e.g. 22/tcp' -r
complete -c nfknock -n "__fish_nfknock_using_subcommand knock" -l period -d 'With --secret-file: the door\'s rotation period, e.g. 60s' -r
complete -c nfknock -n "__fish_nfknock_using_subcommand knock" -l length -d 'With --secret-file: knocks in the sequence' -r
complete -c nfknock -n "__fish_nfknock_using_subcommand knock" -l avoid -d 'With --secret-file: the server\'s other door ports and open ports, which its knocks avoid, e.g. 443/tcp,8443/tcp' -r
complete -c nfknock -n "__fish_nfknock_using_subcommand knock" -l delay -d 'Pause between two knocks, e.g. 20ms, 1s' -r
complete -c nfknock -n "__fish_nfknock_using_subcommand knock" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand knock" -s 4 -d 'Knock on HOST\'s IPv4 address only [default: the first address of each family]'
complete -c nfknock -n "__fish_nfknock_using_subcommand knock" -s 6 -d 'Knock on HOST\'s IPv6 address only'
complete -c nfknock -n "__fish_nfknock_using_subcommand knock" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_using_subcommand knock" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_using_subcommand knock" -s h -l help -d 'Print help'
complete -c nfknock -n "__fish_nfknock_using_subcommand connect" -l door -d 'Which door\'s sequence to send [default: the door on PORT, or the only door]' -r
complete -c nfknock -n "__fish_nfknock_using_subcommand connect" -l tries -d 'Knock and connect at most N times before giving up' -r
complete -c nfknock -n "__fish_nfknock_using_subcommand connect" -l timeout -d 'Give up one connect after DUR, e.g. 3s' -r
complete -c nfknock -n "__fish_nfknock_using_subcommand connect" -l delay -d 'Pause between two knocks, e.g. 20ms, 1s' -r
complete -c nfknock -n "__fish_nfknock_using_subcommand connect" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand connect" -s 4 -d 'Connect over IPv4 only'
complete -c nfknock -n "__fish_nfknock_using_subcommand connect" -s 6 -d 'Connect over IPv6 only'
complete -c nfknock -n "__fish_nfknock_using_subcommand connect" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_using_subcommand connect" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_using_subcommand connect" -s h -l help -d 'Print help'
complete -c nfknock -n "__fish_nfknock_using_subcommand watch" -l journal-dir -d 'Read the journal files of DIR (e.g. from systemd-journal-remote)' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand watch" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand watch" -l dry-run -d 'Print the mails instead of sending them'
complete -c nfknock -n "__fish_nfknock_using_subcommand watch" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_using_subcommand watch" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_using_subcommand watch" -s h -l help -d 'Print help'
complete -c nfknock -n "__fish_nfknock_using_subcommand notify-test" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand notify-test" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_using_subcommand notify-test" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_using_subcommand notify-test" -s h -l help -d 'Print help'
complete -c nfknock -n "__fish_nfknock_using_subcommand watch-view" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand watch-view" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_using_subcommand watch-view" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_using_subcommand watch-view" -s h -l help -d 'Print help'
complete -c nfknock -n "__fish_nfknock_using_subcommand gen-sequence" -l length -d 'Number of knocks (3 to 16)' -r
complete -c nfknock -n "__fish_nfknock_using_subcommand gen-sequence" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand gen-sequence" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_using_subcommand gen-sequence" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_using_subcommand gen-sequence" -s h -l help -d 'Print help'
complete -c nfknock -n "__fish_nfknock_using_subcommand config; and not __fish_seen_subcommand_from get set help" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand config; and not __fish_seen_subcommand_from get set help" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_using_subcommand config; and not __fish_seen_subcommand_from get set help" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_using_subcommand config; and not __fish_seen_subcommand_from get set help" -s h -l help -d 'Print help'
complete -c nfknock -n "__fish_nfknock_using_subcommand config; and not __fish_seen_subcommand_from get set help" -f -a "get" -d 'Print the value of KEY (lists space-separated; nothing when unset)'
complete -c nfknock -n "__fish_nfknock_using_subcommand config; and not __fish_seen_subcommand_from get set help" -f -a "set" -d 'Set KEY to VALUE (more KEY VALUE pairs may follow, or come from stdin with --stdin, applied together); refused, with nothing written, if the config would be invalid'
complete -c nfknock -n "__fish_nfknock_using_subcommand config; and not __fish_seen_subcommand_from get set help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nfknock -n "__fish_nfknock_using_subcommand config; and __fish_seen_subcommand_from get" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand config; and __fish_seen_subcommand_from get" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_using_subcommand config; and __fish_seen_subcommand_from get" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_using_subcommand config; and __fish_seen_subcommand_from get" -s h -l help -d 'Print help'
complete -c nfknock -n "__fish_nfknock_using_subcommand config; and __fish_seen_subcommand_from set" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand config; and __fish_seen_subcommand_from set" -l stdin -d 'Read more KEY VALUE pairs from stdin, one a line (the key, white space, the value): for secrets, which must not show in argv'
complete -c nfknock -n "__fish_nfknock_using_subcommand config; and __fish_seen_subcommand_from set" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_using_subcommand config; and __fish_seen_subcommand_from set" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_using_subcommand config; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help'
complete -c nfknock -n "__fish_nfknock_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "get" -d 'Print the value of KEY (lists space-separated; nothing when unset)'
complete -c nfknock -n "__fish_nfknock_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "set" -d 'Set KEY to VALUE (more KEY VALUE pairs may follow, or come from stdin with --stdin, applied together); refused, with nothing written, if the config would be invalid'
complete -c nfknock -n "__fish_nfknock_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nfknock -n "__fish_nfknock_using_subcommand import" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand import" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_using_subcommand import" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_using_subcommand import" -s h -l help -d 'Print help'
complete -c nfknock -n "__fish_nfknock_using_subcommand completions" -s c -l config -d 'Configuration file [default: /etc/nfknock/nfknock.toml]' -r -F
complete -c nfknock -n "__fish_nfknock_using_subcommand completions" -s q -l quiet -d 'Print only errors and warnings'
complete -c nfknock -n "__fish_nfknock_using_subcommand completions" -s v -l verbose -d 'Print more about what is done'
complete -c nfknock -n "__fish_nfknock_using_subcommand completions" -s h -l help -d 'Print help'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and not __fish_seen_subcommand_from check show apply confirm rotate gen-secret rollback restore remove status metrics transient knock connect watch notify-test watch-view gen-sequence config import completions help" -f -a "check" -d 'Parse and validate the configuration; print a summary'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and not __fish_seen_subcommand_from check show apply confirm rotate gen-secret rollback restore remove status metrics transient knock connect watch notify-test watch-view gen-sequence config import completions help" -f -a "show" -d 'Print the ruleset that `apply` would load'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and not __fish_seen_subcommand_from check show apply confirm rotate gen-secret rollback restore remove status metrics transient knock connect watch notify-test watch-view gen-sequence config import completions help" -f -a "apply" -d 'Validate, render and load the rules atomically (root)'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and not __fish_seen_subcommand_from check show apply confirm rotate gen-secret rollback restore remove status metrics transient knock connect watch notify-test watch-view gen-sequence config import completions help" -f -a "confirm" -d 'Keep the rules of a pending `apply --confirm`, and save them for boot (root)'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and not __fish_seen_subcommand_from check show apply confirm rotate gen-secret rollback restore remove status metrics transient knock connect watch notify-test watch-view gen-sequence config import completions help" -f -a "rotate" -d 'Load rotating doors\' sequences of the previous, current and next period (root; run by nfknock-rotate.timer)'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and not __fish_seen_subcommand_from check show apply confirm rotate gen-secret rollback restore remove status metrics transient knock connect watch notify-test watch-view gen-sequence config import completions help" -f -a "gen-secret" -d 'Write a new random secret for a rotating door (mode 0600; never overwrites)'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and not __fish_seen_subcommand_from check show apply confirm rotate gen-secret rollback restore remove status metrics transient knock connect watch notify-test watch-view gen-sequence config import completions help" -f -a "rollback" -d 'Put back the rules of a pending `apply --confirm` once it is due (internal)'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and not __fish_seen_subcommand_from check show apply confirm rotate gen-secret rollback restore remove status metrics transient knock connect watch notify-test watch-view gen-sequence config import completions help" -f -a "restore" -d 'Load the ruleset the last `apply` saved, as at boot (root)'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and not __fish_seen_subcommand_from check show apply confirm rotate gen-secret rollback restore remove status metrics transient knock connect watch notify-test watch-view gen-sequence config import completions help" -f -a "remove" -d 'Remove everything nfknock added; other rules stay (root)'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and not __fish_seen_subcommand_from check show apply confirm rotate gen-secret rollback restore remove status metrics transient knock connect watch notify-test watch-view gen-sequence config import completions help" -f -a "status" -d 'Show doors, sources mid-sequence, open doors and counters (root)'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and not __fish_seen_subcommand_from check show apply confirm rotate gen-secret rollback restore remove status metrics transient knock connect watch notify-test watch-view gen-sequence config import completions help" -f -a "metrics" -d 'Print the counters and gauges of `status` for Prometheus (root)'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and not __fish_seen_subcommand_from check show apply confirm rotate gen-secret rollback restore remove status metrics transient knock connect watch notify-test watch-view gen-sequence config import completions help" -f -a "transient" -d 'Let networks in without knocking until the next apply or reboot (root)'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and not __fish_seen_subcommand_from check show apply confirm rotate gen-secret rollback restore remove status metrics transient knock connect watch notify-test watch-view gen-sequence config import completions help" -f -a "knock" -d 'Send a knock sequence to HOST (no root needed)'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and not __fish_seen_subcommand_from check show apply confirm rotate gen-secret rollback restore remove status metrics transient knock connect watch notify-test watch-view gen-sequence config import completions help" -f -a "connect" -d 'Knock, connect to HOST PORT once the door opens, relay stdin and stdout (an ssh ProxyCommand; no root needed)'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and not __fish_seen_subcommand_from check show apply confirm rotate gen-secret rollback restore remove status metrics transient knock connect watch notify-test watch-view gen-sequence config import completions help" -f -a "watch" -d 'Follow the kernel\'s messages in the journal and mail every knock'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and not __fish_seen_subcommand_from check show apply confirm rotate gen-secret rollback restore remove status metrics transient knock connect watch notify-test watch-view gen-sequence config import completions help" -f -a "notify-test" -d 'Send one test mail with the [notify] settings'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and not __fish_seen_subcommand_from check show apply confirm rotate gen-secret rollback restore remove status metrics transient knock connect watch notify-test watch-view gen-sequence config import completions help" -f -a "watch-view" -d 'Print the watcher\'s view of the config: [log], [notify] and door names, no knock or secret (root; read by nfknock-watch.service through a socket)'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and not __fish_seen_subcommand_from check show apply confirm rotate gen-secret rollback restore remove status metrics transient knock connect watch notify-test watch-view gen-sequence config import completions help" -f -a "gen-sequence" -d 'Print a random strong knock sequence'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and not __fish_seen_subcommand_from check show apply confirm rotate gen-secret rollback restore remove status metrics transient knock connect watch notify-test watch-view gen-sequence config import completions help" -f -a "config" -d 'Read or change one key of the config, keeping comments and layout'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and not __fish_seen_subcommand_from check show apply confirm rotate gen-secret rollback restore remove status metrics transient knock connect watch notify-test watch-view gen-sequence config import completions help" -f -a "import" -d 'Print an nfknock.toml equivalent to the original nfknock\'s nfknock.cfg or a knockd.conf'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and not __fish_seen_subcommand_from check show apply confirm rotate gen-secret rollback restore remove status metrics transient knock connect watch notify-test watch-view gen-sequence config import completions help" -f -a "completions" -d 'Print shell completions'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and not __fish_seen_subcommand_from check show apply confirm rotate gen-secret rollback restore remove status metrics transient knock connect watch notify-test watch-view gen-sequence config import completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and __fish_seen_subcommand_from transient" -f -a "add" -d 'Let these networks through the doors (guard) or the firewall'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and __fish_seen_subcommand_from transient" -f -a "del" -d 'Remove these networks (each exactly as added)'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and __fish_seen_subcommand_from transient" -f -a "flush" -d 'Remove all transient networks'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and __fish_seen_subcommand_from transient" -f -a "list" -d 'Show the transient networks'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "get" -d 'Print the value of KEY (lists space-separated; nothing when unset)'
complete -c nfknock -n "__fish_nfknock_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "set" -d 'Set KEY to VALUE (more KEY VALUE pairs may follow, or come from stdin with --stdin, applied together); refused, with nothing written, if the config would be invalid'
