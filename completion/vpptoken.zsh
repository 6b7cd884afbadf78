#compdef vpptoken

_vpptoken() {
  local context state state_descr line
  typeset -A opt_args

  local -a options=(
    "--cloud[national cloud\: global (default), usgov, dod or china]: :(global usgov dod china)"
    "--beta[use Graph's beta API (beta properties and actions)]"
    "--graph-url[Graph base URL, for example http\://127.0.0.1\:8787/v1.0 (default\: \$VPPTOKEN_GRAPH_URL or the cloud's; with --tenants, of every tenant without its own base_url)]: :_files"
    "--tenant[Entra tenant id or domain (default\: \$AZURE_TENANT_ID)]: :_files"
    "--client-id[app (client) id (default\: \$AZURE_CLIENT_ID)]: :_files"
    "--client-secret-file[read the client secret from this file (default\: \$AZURE_CLIENT_SECRET)]: :_files"
    "--timeout[seconds per HTTP attempt (default 100)]: :_files"
    "--retries[retries after a failed attempt, 0 to 10 (default 3)]: :_files"
    {-o,--output}"[table (default\: fits the terminal), wide (every column, whole ids), json (sorted keys) or csv]: :(table wide json csv)"
    "--wide[the same as --output wide]"
    "--no-color[no colour in tables (also when \$NO_COLOR is set; never when piped)]"
    "--show-secrets[print token values instead of <redacted>]"
    {-v,--verbose}"[print every HTTP call (method, URL, status, attempts, time, request ids) and retry wait to stderr]"
    {-q,--quiet}"[print no status line (on a terminal) or confirmations, only results and errors]"
    {-h,--help}"[show help (vpptoken COMMAND --help for a command)]"
    "--version[print the version (as vpptoken version)]"
  )
  _arguments -s -S \
    $options \
    ": :_vpptoken_cmds" \
    "*:: :->args" \
    && return 0

  case $words[1] in
    list)
      options=(
        $options
        "--filter[an OData \$filter, for example \"state eq 'valid'\"]: :_files"
        "--select[properties to show, comma-separated]: :_files"
        "--top[N tokens per page (OData \$top); every page is read]: :_files"
        "--max[show at most N tokens (stops reading pages once it has them)]: :_files"
        "--state[only tokens in this state (valid, expired, ...)]: :(unknown valid expired invalid assignedToExternalMDM)"
        "--tenants[run over every tenant of this tenants file (JSON; see docs/tenants.md)]: :_files"
        "*--only[with --tenants\: only the tenants of this name or tag (repeatable)]: :_files"
        "--shard[with --tenants\: only the K-th of N stable slices of the tenants (N jobs with K = 1..N cover each tenant once)]: :_files"
      )
      _arguments -s -S \
        $options \
        && return 0
      ;;

    get)
      options=(
        $options
        "--select[properties to show, comma-separated]: :_files"
      )
      _arguments -s -S \
        $options \
        ": :_vpptoken_ids" \
        && return 0
      ;;

    create)
      options=(
        $options
        "--file[the .vpptoken file from Apple Business/School Manager (required)]: :_files"
        "--apple-id[the Apple ID (managed account) of the token]: :_files"
        "--organization[organizationName (default\: the file's)]: :_files"
        "--account-type[vppTokenAccountType\: business or education]: :(business education)"
        "--country[countryOrRegion, for example us]: :_files"
        "*--set[any other property (repeatable)]: :_files"
      )
      _arguments -s -S \
        $options \
        && return 0
      ;;

    update)
      options=(
        $options
        "*--set[a property to change (repeatable; at least one)]: :_files"
      )
      _arguments -s -S \
        $options \
        ": :_vpptoken_ids" \
        && return 0
      ;;

    delete)
      options=(
        $options
        {-y,--yes}"[do not ask for confirmation (needed without a terminal)]"
      )
      _arguments -s -S \
        $options \
        ": :_vpptoken_ids" \
        && return 0
      ;;

    sync)
      options=(
        $options
        "--all[every valid token not already syncing]"
        "--wait[wait until each sync has finished]"
        "--wait-timeout[give up waiting after this (default 300)]: :_files"
        "--tenants[run over every tenant of this tenants file (JSON; see docs/tenants.md)]: :_files"
        "*--only[with --tenants\: only the tenants of this name or tag (repeatable)]: :_files"
        "--shard[with --tenants\: only the K-th of N stable slices of the tenants (N jobs with K = 1..N cover each tenant once)]: :_files"
      )
      _arguments -s -S \
        $options \
        "*: :_vpptoken_ids" \
        && return 0
      ;;

    expiring)
      options=(
        $options
        "--within[expiring within DAYS days (default 30)]: :_files"
        "--exit-code[exit 12 when any token needs attention, 0 when none does (for cron jobs and monitors)]"
        "--tenants[run over every tenant of this tenants file (JSON; see docs/tenants.md)]: :_files"
        "*--only[with --tenants\: only the tenants of this name or tag (repeatable)]: :_files"
        "--shard[with --tenants\: only the K-th of N stable slices of the tenants (N jobs with K = 1..N cover each tenant once)]: :_files"
      )
      _arguments -s -S \
        $options \
        && return 0
      ;;

    renew)
      options=(
        $options
        "--file[the new .vpptoken file (required)]: :_files"
      )
      _arguments -s -S \
        $options \
        ": :_vpptoken_ids" \
        && return 0
      ;;

    login)
      options=(
        $options
      )
      _arguments -s -S \
        $options \
        && return 0
      ;;

    logout)
      options=(
        $options
      )
      _arguments -s -S \
        $options \
        && return 0
      ;;

    whoami)
      options=(
        $options
      )
      _arguments -s -S \
        $options \
        && return 0
      ;;

    sandbox)
      options=(
        $options
      )
      _arguments -s -S \
        $options \
        "*: :_files" \
        && return 0
      ;;

    version)
      options=(
        $options
      )
      _arguments -s -S \
        $options \
        && return 0
      ;;

    completion)
      options=(
        $options
      )
      _arguments -s -S \
        $options \
        ": :(bash zsh fish)" \
        && return 0
      ;;

    help)
      options=(
        $options
      )
      _arguments -s -S \
        $options \
        ": :(list get create update delete sync expiring renew login logout whoami sandbox version completion help)" \
        && return 0
      ;;

  esac

  return 1
}

_vpptoken_cmds() {
  local -a commands=(
    "list:list the VPP tokens"
    "get:show one token"
    "create:add a token from Apple's .vpptoken file"
    "update:change properties of a token"
    "delete:remove a token from Intune"
    "sync:start a license sync with Apple"
    "expiring:tokens expiring soon, expired or not valid"
    "renew:upload a new .vpptoken file into a token"
    "login:sign in as yourself (device code); later commands use it"
    "logout:forget the sign-in of vpptoken login"
    "whoami:show who vpptoken login signed in (never the token)"
    "sandbox:start the local Graph sandbox"
    "version:print the version"
    "completion:print the shell completion script (bash, zsh or fish)"
    "help:show help"
  )
  _describe "command" commands
}

# Token ids for the commands that take one: the ids the last 'vpptoken list' kept for the place the line's
# flags name (vpptoken __complete-ids: never the network), each described by its label.
_vpptoken_ids() {
  local -a line_words where ids
  local i w line id
  line_words=(${(Q)${(z)LBUFFER}})
  for (( i = 2; i <= $#line_words; i++ )); do
    w=$line_words[i]
    case $w in
      (--cloud|--graph-url|--tenant|--client-id)
        where+=("$w=$line_words[i+1]")
        (( i++ ))
        ;;
      (--cloud=*|--graph-url=*|--tenant=*|--client-id=*|--beta)
        where+=("$w")
        ;;
      (--)
        break
        ;;
    esac
  done
  [[ -x $line_words[1] ]] || (( $+commands[$line_words[1]] )) || return 1
  for line in "${(@f)$($line_words[1] __complete-ids --labels $where 2>/dev/null)}"; do
    id=${line%%$'\t'*}
    [[ $id =~ '^[[:alnum:]][[:alnum:]-]*$' ]] || continue
    if [[ $line == *$'\t'* ]]; then ids+=("$id:${line#*$'\t'}"); else ids+=("$id"); fi
  done
  _describe -t token-ids 'token id' ids
}

_vpptoken
