# zsh -f spec/support/zsh_complete.zsh FPATH_DIR "vpptoken sy": prints the matches zsh's completion offers for
# the words (completion functions from FPATH_DIR), one a line. It runs an interactive zsh in a pseudo-terminal (zpty),
# records what compadd adds, and stops after the first completion; every loop is bounded.
zmodload zsh/zpty || exit 3
zpty z zsh -f -i
zpty -w z "PROMPT= ; fpath=(${(q)1} \$fpath); autoload -U compinit; compinit -u -D; M='#'"
zpty -w z 'compadd () { if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return $?; fi; typeset -a hits; builtin compadd -A hits "$@"; local h; for h in $hits; do print -r -- "$M$M$h$M$M"; done; builtin compadd "$@"; }'
zpty -w z 'comppostfuncs=(__done); __done() { print -r -- "$M${M}END$M$M"; exit }'
zpty -n -w z "$2"$'\t'
local line
integer n=0
while (( n++ < 5000 )) && zpty -r z line; do
  line=${line//$'\r'/}
  [[ $line == *'##END##'* ]] && break
  [[ $line == *'##'*'##'* ]] && print -r -- ${${line#*\#\#}%%\#\#*}
done
zpty -d z
