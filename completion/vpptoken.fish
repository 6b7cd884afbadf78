function __fish_vpptoken_print_command
    set -l cmdline (commandline -poc)
    set -l cmd
    set -e cmdline[1]
    for arg in $cmdline
        switch $arg
            case list
                set cmd $cmd list
                break
            case get
                set cmd $cmd get
                break
            case create
                set cmd $cmd create
                break
            case update
                set cmd $cmd update
                break
            case delete
                set cmd $cmd delete
                break
            case sync
                set cmd $cmd sync
                break
            case expiring
                set cmd $cmd expiring
                break
            case renew
                set cmd $cmd renew
                break
            case login
                set cmd $cmd login
                break
            case logout
                set cmd $cmd logout
                break
            case whoami
                set cmd $cmd whoami
                break
            case sandbox
                set cmd $cmd sandbox
                break
            case version
                set cmd $cmd version
                break
            case completion
                set cmd $cmd completion
                break
            case help
                set cmd $cmd help
                break
        end
    end
    echo "$cmd"
end

function __fish_vpptoken_using_command
    test (__fish_vpptoken_print_command) = "$argv"
    and return 0
    or return 1
end

function __fish_vpptoken_seen_command
    string match -q "$argv*" (__fish_vpptoken_print_command)
    and return 0
    or return 1
end

complete -c vpptoken -n '__fish_vpptoken_using_command' -xa 'list' -d 'list the VPP tokens'
complete -c vpptoken -n '__fish_vpptoken_using_command' -xa 'get' -d 'show one token'
complete -c vpptoken -n '__fish_vpptoken_using_command' -xa 'create' -d 'add a token from Apple\'s .vpptoken file'
complete -c vpptoken -n '__fish_vpptoken_using_command' -xa 'update' -d 'change properties of a token'
complete -c vpptoken -n '__fish_vpptoken_using_command' -xa 'delete' -d 'remove a token from Intune'
complete -c vpptoken -n '__fish_vpptoken_using_command' -xa 'sync' -d 'start a license sync with Apple'
complete -c vpptoken -n '__fish_vpptoken_using_command' -xa 'expiring' -d 'tokens expiring soon, expired or not valid'
complete -c vpptoken -n '__fish_vpptoken_using_command' -xa 'renew' -d 'upload a new .vpptoken file into a token'
complete -c vpptoken -n '__fish_vpptoken_using_command' -xa 'login' -d 'sign in as yourself (device code); later commands use it'
complete -c vpptoken -n '__fish_vpptoken_using_command' -xa 'logout' -d 'forget the sign-in of vpptoken login'
complete -c vpptoken -n '__fish_vpptoken_using_command' -xa 'whoami' -d 'show who vpptoken login signed in (never the token)'
complete -c vpptoken -n '__fish_vpptoken_using_command' -xa 'sandbox' -d 'start the local Graph sandbox'
complete -c vpptoken -n '__fish_vpptoken_using_command' -xa 'version' -d 'print the version'
complete -c vpptoken -n '__fish_vpptoken_using_command' -xa 'completion' -d 'print the shell completion script (bash, zsh or fish)'
complete -c vpptoken -n '__fish_vpptoken_using_command' -xa 'help' -d 'show help'
complete -c vpptoken -l cloud -xa 'global usgov dod china' -d 'national cloud: global (default), usgov, dod or china'
complete -c vpptoken -l beta -d 'use Graph\'s beta API (beta properties and actions)'
complete -c vpptoken -l graph-url -r -d 'Graph base URL, for example http://127.0.0.1:8787/v1.0 (default: $VPPTOKEN_GRAPH_URL or the cloud\'s; with --tenants, of every tenant without its own base_url)'
complete -c vpptoken -l tenant -r -d 'Entra tenant id or domain (default: $AZURE_TENANT_ID)'
complete -c vpptoken -l client-id -r -d 'app (client) id (default: $AZURE_CLIENT_ID)'
complete -c vpptoken -l client-secret-file -r -d 'read the client secret from this file (default: $AZURE_CLIENT_SECRET)'
complete -c vpptoken -l timeout -r -d 'seconds per HTTP attempt (default 100)'
complete -c vpptoken -l retries -r -d 'retries after a failed attempt, 0 to 10 (default 3)'
complete -c vpptoken -s o -l output -xa 'table wide json csv' -d 'table (default: fits the terminal), wide (every column, whole ids), json (sorted keys) or csv'
complete -c vpptoken -l wide -d 'the same as --output wide'
complete -c vpptoken -l no-color -d 'no colour in tables (also when $NO_COLOR is set; never when piped)'
complete -c vpptoken -l show-secrets -d 'print token values instead of <redacted>'
complete -c vpptoken -s v -l verbose -d 'print every HTTP call (method, URL, status, attempts, time, request ids) and retry wait to stderr'
complete -c vpptoken -s q -l quiet -d 'print no status line (on a terminal) or confirmations, only results and errors'
complete -c vpptoken -s h -l help -d 'show help (vpptoken COMMAND --help for a command)'
complete -c vpptoken -l version -d 'print the version (as vpptoken version)'

complete -c vpptoken -n '__fish_vpptoken_seen_command list' -l filter -r -d 'an OData $filter, for example "state eq \'valid\'"'
complete -c vpptoken -n '__fish_vpptoken_seen_command list' -l select -r -d 'properties to show, comma-separated'
complete -c vpptoken -n '__fish_vpptoken_seen_command list' -l top -r -d 'N tokens per page (OData $top); every page is read'
complete -c vpptoken -n '__fish_vpptoken_seen_command list' -l max -r -d 'show at most N tokens (stops reading pages once it has them)'
complete -c vpptoken -n '__fish_vpptoken_seen_command list' -l state -xa 'unknown valid expired invalid assignedToExternalMDM' -d 'only tokens in this state (valid, expired, ...)'
complete -c vpptoken -n '__fish_vpptoken_seen_command list' -l tenants -r -d 'run over every tenant of this tenants file (JSON; see docs/tenants.md)'
complete -c vpptoken -n '__fish_vpptoken_seen_command list' -l only -r -d 'with --tenants: only the tenants of this name or tag (repeatable)'
complete -c vpptoken -n '__fish_vpptoken_seen_command list' -l shard -r -d 'with --tenants: only the K-th of N stable slices of the tenants (N jobs with K = 1..N cover each tenant once)'

complete -c vpptoken -n '__fish_vpptoken_seen_command get' -l select -r -d 'properties to show, comma-separated'

complete -c vpptoken -n '__fish_vpptoken_seen_command create' -l file -r -d 'the .vpptoken file from Apple Business/School Manager (required)'
complete -c vpptoken -n '__fish_vpptoken_seen_command create' -l apple-id -r -d 'the Apple ID (managed account) of the token'
complete -c vpptoken -n '__fish_vpptoken_seen_command create' -l organization -r -d 'organizationName (default: the file\'s)'
complete -c vpptoken -n '__fish_vpptoken_seen_command create' -l account-type -xa 'business education' -d 'vppTokenAccountType: business or education'
complete -c vpptoken -n '__fish_vpptoken_seen_command create' -l country -r -d 'countryOrRegion, for example us'
complete -c vpptoken -n '__fish_vpptoken_seen_command create' -l set -r -d 'any other property (repeatable)'

complete -c vpptoken -n '__fish_vpptoken_seen_command update' -l set -r -d 'a property to change (repeatable; at least one)'

complete -c vpptoken -n '__fish_vpptoken_seen_command delete' -s y -l yes -d 'do not ask for confirmation (needed without a terminal)'

complete -c vpptoken -n '__fish_vpptoken_seen_command sync' -l all -d 'every valid token not already syncing'
complete -c vpptoken -n '__fish_vpptoken_seen_command sync' -l wait -d 'wait until each sync has finished'
complete -c vpptoken -n '__fish_vpptoken_seen_command sync' -l wait-timeout -r -d 'give up waiting after this (default 300)'
complete -c vpptoken -n '__fish_vpptoken_seen_command sync' -l tenants -r -d 'run over every tenant of this tenants file (JSON; see docs/tenants.md)'
complete -c vpptoken -n '__fish_vpptoken_seen_command sync' -l only -r -d 'with --tenants: only the tenants of this name or tag (repeatable)'
complete -c vpptoken -n '__fish_vpptoken_seen_command sync' -l shard -r -d 'with --tenants: only the K-th of N stable slices of the tenants (N jobs with K = 1..N cover each tenant once)'

complete -c vpptoken -n '__fish_vpptoken_seen_command expiring' -l within -r -d 'expiring within DAYS days (default 30)'
complete -c vpptoken -n '__fish_vpptoken_seen_command expiring' -l exit-code -d 'exit 12 when any token needs attention, 0 when none does (for cron jobs and monitors)'
complete -c vpptoken -n '__fish_vpptoken_seen_command expiring' -l tenants -r -d 'run over every tenant of this tenants file (JSON; see docs/tenants.md)'
complete -c vpptoken -n '__fish_vpptoken_seen_command expiring' -l only -r -d 'with --tenants: only the tenants of this name or tag (repeatable)'
complete -c vpptoken -n '__fish_vpptoken_seen_command expiring' -l shard -r -d 'with --tenants: only the K-th of N stable slices of the tenants (N jobs with K = 1..N cover each tenant once)'

complete -c vpptoken -n '__fish_vpptoken_seen_command renew' -l file -r -d 'the new .vpptoken file (required)'








# Token ids for the commands that take one: the ids the last 'vpptoken list' kept for the place the line's
# flags name (vpptoken __complete-ids: never the network), each described by its label.
function __fish_vpptoken_ids
    set -l words (commandline -opc)
    set -l where
    set -l i 2
    while test $i -le (count $words)
        switch $words[$i]
            case --cloud --graph-url --tenant --client-id
                set -l next (math $i + 1)
                if test $next -le (count $words)
                    set -a where "$words[$i]=$words[$next]"
                end
                set i $next
            case '--cloud=*' '--graph-url=*' '--tenant=*' '--client-id=*' --beta
                set -a where $words[$i]
            case --
                break
        end
        set i (math $i + 1)
    end
    command -q -- $words[1]; or return
    for line in ($words[1] __complete-ids --labels $where 2>/dev/null)
        if string match -qr -- '^[[:alnum:]][[:alnum:]-]*(\t.*)?$' $line
            printf '%s\n' $line
        end
    end
end

complete -c vpptoken -n '__fish_vpptoken_using_command get' -f -a '(__fish_vpptoken_ids)'
complete -c vpptoken -n '__fish_vpptoken_using_command update' -f -a '(__fish_vpptoken_ids)'
complete -c vpptoken -n '__fish_vpptoken_using_command delete' -f -a '(__fish_vpptoken_ids)'
complete -c vpptoken -n '__fish_vpptoken_using_command sync' -f -a '(__fish_vpptoken_ids)'
complete -c vpptoken -n '__fish_vpptoken_using_command renew' -f -a '(__fish_vpptoken_ids)'
