# bash completion for vpptoken: commands, their flags and the values of choice flags.
# Install: source this file, or copy it to /usr/share/bash-completion/completions/vpptoken
# (or ~/.local/share/bash-completion/completions/vpptoken).

_vpptoken() {
  local cur prev words cword
  if declare -F _init_completion >/dev/null 2>&1; then
    _init_completion || return
  else
    COMPREPLY=()
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    words=("${COMP_WORDS[@]}")
    cword=$COMP_CWORD
  fi

  local commands="list get create update delete sync expiring renew login logout whoami sandbox version help"
  local global="--cloud --beta --graph-url --tenant --client-id --client-secret-file --timeout --retries --output
    --show-secrets --verbose --quiet --help"

  case $prev in
    --output|-o) COMPREPLY=($(compgen -W "table json csv" -- "$cur")); return ;;
    --cloud) COMPREPLY=($(compgen -W "global usgov dod china" -- "$cur")); return ;;
    --account-type) COMPREPLY=($(compgen -W "business education" -- "$cur")); return ;;
    --state) COMPREPLY=($(compgen -W "unknown valid expired invalid assignedToExternalMDM" -- "$cur")); return ;;
    --file|--client-secret-file) COMPREPLY=($(compgen -f -- "$cur")); compopt -o filenames 2>/dev/null; return ;;
    --set) COMPREPLY=($(compgen -S = -W "appleId organizationName vppTokenAccountType countryOrRegion
      automaticallyUpdateApps expirationDateTime lastSyncDateTime state lastSyncStatus displayName locationName
      dataSharingConsentGranted claimTokenManagementFromExternalMdm roleScopeTagIds" -- "$cur"))
      compopt -o nospace 2>/dev/null; return ;;
    --graph-url|--tenant|--client-id|--timeout|--retries|--filter|--select|--top|--apple-id|--organization|--country|\
    --within|--wait-timeout) return ;;
  esac

  local cmd="" i
  for ((i = 1; i < cword; i++)); do
    case ${words[i]} in
      --cloud|--graph-url|--tenant|--client-id|--client-secret-file|--timeout|--retries|--output|-o) ((i++)) ;;
      -*) ;;
      *) cmd=${words[i]}; break ;;
    esac
  done

  if [[ -z $cmd ]]; then
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W "$global" -- "$cur"))
    else
      COMPREPLY=($(compgen -W "$commands" -- "$cur"))
    fi
    return
  fi

  local flags=""
  case $cmd in
    list) flags="--filter --select --top --state" ;;
    get) flags="--select" ;;
    create) flags="--file --apple-id --organization --account-type --country --set" ;;
    update) flags="--set" ;;
    delete) flags="--yes" ;;
    sync) flags="--all --wait --wait-timeout" ;;
    expiring) flags="--within" ;;
    renew) flags="--file" ;;
    help) COMPREPLY=($(compgen -W "$commands" -- "$cur")); return ;;
    sandbox) return ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$flags $global" -- "$cur"))
  fi
}
complete -F _vpptoken vpptoken
