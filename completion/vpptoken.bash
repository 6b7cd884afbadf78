_vpptoken() {
    local IFS=$' \t\n'
    local args cur prev cmd opts arg
    args=("${COMP_WORDS[@]}")
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    opts="--cloud --beta --graph-url --tenant --client-id --client-secret-file --timeout --retries -o --output --wide --no-color --show-secrets -v --verbose -q --quiet -h --help --version"

    case "$prev" in
        --cloud)
            COMPREPLY=($(compgen -W "global usgov dod china" -- "$cur"))
            return 0
            ;;
        --graph-url)
            COMPREPLY=($(compgen -f -- "$cur"))
            return 0
            ;;
        --tenant)
            COMPREPLY=($(compgen -f -- "$cur"))
            return 0
            ;;
        --client-id)
            COMPREPLY=($(compgen -f -- "$cur"))
            return 0
            ;;
        --client-secret-file)
            COMPREPLY=($(compgen -f -- "$cur"))
            return 0
            ;;
        --timeout)
            COMPREPLY=($(compgen -f -- "$cur"))
            return 0
            ;;
        --retries)
            COMPREPLY=($(compgen -f -- "$cur"))
            return 0
            ;;
        -o|--output)
            COMPREPLY=($(compgen -W "table wide json csv" -- "$cur"))
            return 0
            ;;
    esac

    args=("${args[@]:1}")
    for arg in "${args[@]}"; do
        case "$arg" in
            list)
                cmd="list"
                opts="$opts --filter --select --top --max --state --tenants --only --shard"
                break
                ;;
            get)
                cmd="get"
                opts="$opts --select"
                break
                ;;
            create)
                cmd="create"
                opts="$opts --file --apple-id --organization --account-type --country --set"
                break
                ;;
            update)
                cmd="update"
                opts="$opts --set"
                break
                ;;
            delete)
                cmd="delete"
                opts="$opts -y --yes"
                break
                ;;
            sync)
                cmd="sync"
                opts="$opts --all --wait --wait-timeout --tenants --only --shard"
                break
                ;;
            expiring)
                cmd="expiring"
                opts="$opts --within --exit-code --tenants --only --shard"
                break
                ;;
            renew)
                cmd="renew"
                opts="$opts --file"
                break
                ;;
            login)
                cmd="login"
                opts="$opts "
                break
                ;;
            logout)
                cmd="logout"
                opts="$opts "
                break
                ;;
            whoami)
                cmd="whoami"
                opts="$opts "
                break
                ;;
            sandbox)
                cmd="sandbox"
                opts="$opts "
                break
                ;;
            version)
                cmd="version"
                opts="$opts "
                break
                ;;
            completion)
                cmd="completion"
                opts="$opts "
                break
                ;;
            help)
                cmd="help"
                opts="$opts "
                break
                ;;
        esac
    done

    case "$cmd" in
        '')
            COMPREPLY=($(compgen -W "list get create update delete sync expiring renew login logout whoami sandbox version completion help" -- "$cur"))
            ;;
        'list')
            case "$prev" in
                --filter)
                    COMPREPLY=($(compgen -f -- "$cur"))
                    return 0
                    ;;
                --select)
                    COMPREPLY=($(compgen -f -- "$cur"))
                    return 0
                    ;;
                --top)
                    COMPREPLY=($(compgen -f -- "$cur"))
                    return 0
                    ;;
                --max)
                    COMPREPLY=($(compgen -f -- "$cur"))
                    return 0
                    ;;
                --state)
                    COMPREPLY=($(compgen -W "unknown valid expired invalid assignedToExternalMDM" -- "$cur"))
                    return 0
                    ;;
                --tenants)
                    COMPREPLY=($(compgen -f -- "$cur"))
                    return 0
                    ;;
                --only)
                    COMPREPLY=($(compgen -f -- "$cur"))
                    return 0
                    ;;
                --shard)
                    COMPREPLY=($(compgen -f -- "$cur"))
                    return 0
                    ;;
            esac

            ;;
        'get')
            case "$prev" in
                --select)
                    COMPREPLY=($(compgen -f -- "$cur"))
                    return 0
                    ;;
            esac

            ;;
        'create')
            case "$prev" in
                --file)
                    COMPREPLY=($(compgen -f -- "$cur"))
                    return 0
                    ;;
                --apple-id)
                    COMPREPLY=($(compgen -f -- "$cur"))
                    return 0
                    ;;
                --organization)
                    COMPREPLY=($(compgen -f -- "$cur"))
                    return 0
                    ;;
                --account-type)
                    COMPREPLY=($(compgen -W "business education" -- "$cur"))
                    return 0
                    ;;
                --country)
                    COMPREPLY=($(compgen -f -- "$cur"))
                    return 0
                    ;;
                --set)
                    COMPREPLY=($(compgen -f -- "$cur"))
                    return 0
                    ;;
            esac

            ;;
        'update')
            case "$prev" in
                --set)
                    COMPREPLY=($(compgen -f -- "$cur"))
                    return 0
                    ;;
            esac

            ;;
        'sync')
            case "$prev" in
                --wait-timeout)
                    COMPREPLY=($(compgen -f -- "$cur"))
                    return 0
                    ;;
                --tenants)
                    COMPREPLY=($(compgen -f -- "$cur"))
                    return 0
                    ;;
                --only)
                    COMPREPLY=($(compgen -f -- "$cur"))
                    return 0
                    ;;
                --shard)
                    COMPREPLY=($(compgen -f -- "$cur"))
                    return 0
                    ;;
            esac

            ;;
        'expiring')
            case "$prev" in
                --within)
                    COMPREPLY=($(compgen -f -- "$cur"))
                    return 0
                    ;;
                --tenants)
                    COMPREPLY=($(compgen -f -- "$cur"))
                    return 0
                    ;;
                --only)
                    COMPREPLY=($(compgen -f -- "$cur"))
                    return 0
                    ;;
                --shard)
                    COMPREPLY=($(compgen -f -- "$cur"))
                    return 0
                    ;;
            esac

            ;;
        'renew')
            case "$prev" in
                --file)
                    COMPREPLY=($(compgen -f -- "$cur"))
                    return 0
                    ;;
            esac

            ;;
    esac

    case "$cmd" in
        get|update|delete|sync|renew)
            if [[ "$cur" != -* ]]; then
                compopt +o default +o bashdefault 2>/dev/null
                _vpptoken_ids
                return 0
            fi
            ;;
    esac

    if [[ "$cur" = -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    fi
}

# Token ids for the commands that take one: the ids the last 'vpptoken list' kept for the place the line's
# flags name (vpptoken __complete-ids: never the network). Only id-shaped lines, added as they are.
_vpptoken_ids() {
    local -a words where=()
    local i w id
    read -r -a words <<< "${COMP_LINE:0:COMP_POINT}"
    for ((i = 1; i < ${#words[@]}; i++)); do
        w="${words[i]}"
        case "$w" in
            --cloud|--graph-url|--tenant|--client-id)
                where+=("$w=${words[i+1]}")
                ((i++))
                ;;
            --cloud=*|--graph-url=*|--tenant=*|--client-id=*|--beta)
                where+=("$w")
                ;;
            --)
                break
                ;;
        esac
    done
    while IFS= read -r id; do
        if [[ "$id" =~ ^[[:alnum:]][[:alnum:]-]*$ && "$id" == "$cur"* ]]; then COMPREPLY+=("$id"); fi
    done < <("${COMP_WORDS[0]}" __complete-ids "${where[@]}" 2>/dev/null)
}

complete -F _vpptoken -o bashdefault -o default vpptoken
