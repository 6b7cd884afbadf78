--- The vpptoken command line: the bash, zsh and fish completion scripts (`vpptoken completion SHELL`). lua-argparse
-- generates them from the definition (args.parser(true)); what it cannot be told is added here: for every command
-- whose usage starts with ID, the token ids the last listing kept (cli/idcache.lua), which the scripts get from
-- `vpptoken __complete-ids` (run as the line's first word, with the line's flags that name the place: never the
-- network). Only id-shaped lines are offered, and never through an expansion of the shell's.
local args = require "vpptoken.cli.args"
local idcache = require "vpptoken.cli.idcache"

local M = {}

-- The commands that take token ids: their usage starts with ID (get, update, delete, sync, renew).
local function id_commands()
  local names = {}
  for _, c in ipairs(args.COMMANDS) do
    if (c.usage or ""):match("^ID") then names[#names + 1] = c.name end
  end
  return names
end

-- The flags that name the place (idcache.PLACE_FLAGS) as shell patterns: those that take a value
-- ("--tenant"), the same written with theirs ("--tenant=*"), and those that take none ("--beta").
local function place_flags()
  local valued, joined, bare = {}, {}, {}
  for _, name in ipairs(idcache.PLACE_FLAGS) do
    for _, f in ipairs(args.GLOBAL) do
      if f.name == name then
        if f.kind == "flag" then
          bare[#bare + 1] = "--" .. name
        else
          valued[#valued + 1] = "--" .. name
          joined[#joined + 1] = "--" .. name .. "=*"
        end
      end
    end
  end
  return valued, joined, bare
end

-- Fills a template: every @NAME@ from values (a template's own text has no @).
local function fill(template, values)
  return (template:gsub("@([%u_]+)@", function(k) return assert(values[k], k) end))
end

local ID_PATTERN = "^[[:alnum:]][[:alnum:]-]*$" -- idcache.id_shaped, as a POSIX extended regex

local BASH_IDS = [=[
# Token ids for the commands that take one: the ids the last 'vpptoken list' kept for the place the line's
# flags name (vpptoken __complete-ids: never the network). Only id-shaped lines, added as they are.
_vpptoken_ids() {
    local -a words where=()
    local i w id
    read -r -a words <<< "${COMP_LINE:0:COMP_POINT}"
    for ((i = 1; i < ${#words[@]}; i++)); do
        w="${words[i]}"
        case "$w" in
            @VALUED@)
                where+=("$w=${words[i+1]}")
                ((i++))
                ;;
            @JOINED@|@BARE@)
                where+=("$w")
                ;;
            --)
                break
                ;;
        esac
    done
    while IFS= read -r id; do
        if [[ "$id" =~ @REGEX@ && "$id" == "$cur"* ]]; then COMPREPLY+=("$id"); fi
    done < <("${COMP_WORDS[0]}" @COMMAND@ "${where[@]}" 2>/dev/null)
}
]=]

local BASH_CALL = [=[
    case "$cmd" in
        @COMMANDS@)
            if [[ "$cur" != -* ]]; then
                compopt +o default +o bashdefault 2>/dev/null
                _vpptoken_ids
                return 0
            fi
            ;;
    esac

]=]

local ZSH_IDS = [=[

# Token ids for the commands that take one: the ids the last 'vpptoken list' kept for the place the line's
# flags name (vpptoken __complete-ids: never the network), each described by its label.
_vpptoken_ids() {
  local -a line_words where ids
  local i w line id
  line_words=(${(Q)${(z)LBUFFER}})
  for (( i = 2; i <= $#line_words; i++ )); do
    w=$line_words[i]
    case $w in
      (@VALUED@)
        where+=("$w=$line_words[i+1]")
        (( i++ ))
        ;;
      (@JOINED@|@BARE@)
        where+=("$w")
        ;;
      (--)
        break
        ;;
    esac
  done
  [[ -x $line_words[1] ]] || (( $+commands[$line_words[1]] )) || return 1
  for line in "${(@f)$($line_words[1] @COMMAND@ --labels $where 2>/dev/null)}"; do
    id=${line%%$'\t'*}
    [[ $id =~ '@REGEX@' ]] || continue
    if [[ $line == *$'\t'* ]]; then ids+=("$id:${line#*$'\t'}"); else ids+=("$id"); fi
  done
  _describe -t token-ids 'token id' ids
}
]=]

local FISH_IDS = [=[

# Token ids for the commands that take one: the ids the last 'vpptoken list' kept for the place the line's
# flags name (vpptoken __complete-ids: never the network), each described by its label.
function __fish_vpptoken_ids
    set -l words (commandline -opc)
    set -l where
    set -l i 2
    while test $i -le (count $words)
        switch $words[$i]
            case @VALUED@
                set -l next (math $i + 1)
                if test $next -le (count $words)
                    set -a where "$words[$i]=$words[$next]"
                end
                set i $next
            case @JOINED@ @BARE@
                set -a where $words[$i]
            case --
                break
        end
        set i (math $i + 1)
    end
    command -q -- $words[1]; or return
    for line in ($words[1] @COMMAND@ --labels $where 2>/dev/null)
        if string match -qr -- '@FISH_REGEX@' $line
            printf '%s\n' $line
        end
    end
end
]=]

local function values()
  local valued, joined, bare = place_flags()
  return { VALUED = table.concat(valued, "|"), JOINED = table.concat(joined, "|"), BARE = table.concat(bare, "|"),
           REGEX = ID_PATTERN, COMMAND = idcache.COMMAND, COMMANDS = table.concat(id_commands(), "|") }
end

local function bash(script)
  local v = values()
  local at = assert(script:find('    if [[ "$cur" = -* ]]; then', 1, true), "argparse's bash script changed")
  local last = assert(script:find("\ncomplete %-F "), "argparse's bash script changed")
  return script:sub(1, at - 1) .. fill(BASH_CALL, v) .. script:sub(at, last) .. fill(BASH_IDS, v) .. "\n"
    .. script:sub(last + 1)
end

local function zsh(script)
  -- each ID command's positional arguments: argparse's ": :_files" (or "*: :_files") in its block
  for _, name in ipairs(id_commands()) do
    local from = assert(script:find("\n    " .. name .. ")\n", 1, true), "no zsh block for " .. name)
    local to = assert(script:find("\n      ;;\n", from, true), "no end of the zsh block for " .. name)
    local block = script:sub(from, to):gsub('\n(%s+"%*?): :_files" \\', '\n%1: :_vpptoken_ids" \\')
    script = script:sub(1, from - 1) .. block .. script:sub(to + 1)
  end
  local last = assert(script:find("\n_vpptoken\n*$"), "argparse's zsh script changed")
  return script:sub(1, last) .. fill(ZSH_IDS, values()):sub(2) .. script:sub(last)
end

local function fish(script)
  local v = values()
  v.VALUED = v.VALUED:gsub("|", " ")
  v.JOINED = ("'" .. v.JOINED:gsub("|", "' '") .. "'")
  v.BARE = v.BARE:gsub("|", " ")
  v.FISH_REGEX = "^[[:alnum:]][[:alnum:]-]*(\\t.*)?$"
  local lines = { fill(FISH_IDS, v) }
  for _, name in ipairs(id_commands()) do
    lines[#lines + 1] = "complete -c vpptoken -n '__fish_vpptoken_using_command " .. name
      .. "' -f -a '(__fish_vpptoken_ids)'"
  end
  return script .. table.concat(lines, "\n") .. "\n"
end

--- The completion script for a shell ("bash", "zsh" or "fish"), or nil for another shell.
function M.script(shell)
  local edit = ({ bash = bash, zsh = zsh, fish = fish })[shell]
  return edit and edit(args.completion(shell))
end

return M
