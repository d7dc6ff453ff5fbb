# bash completion for scalelab. Commands come from `scalelab --help`, options from
# `scalelab CMD --help`, so this file never lists either itself and cannot go stale.
_scalelab() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd=${COMP_WORDS[1]}
    if [ "$COMP_CWORD" -eq 1 ]; then
        local cmds
        cmds=$(scalelab --help 2>/dev/null | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1}')
        COMPREPLY=($(compgen -W "$cmds help --help --version" -- "$cur"))
        return
    fi
    case $prev in
        --db|--out|--csv|--family|--from|--runs-dir) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --where|--derive) COMPREPLY=(); return ;;  # an expression over the columns: nothing to offer
    esac
    if [ "$cmd" = help ]; then
        COMPREPLY=($(compgen -W "$(scalelab --help 2>/dev/null | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1}')" -- "$cur"))
        return
    fi
    if [[ $cur == -* ]]; then
        local opts
        opts=$(scalelab "$cmd" --help 2>/dev/null | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi
    if [ "$cmd" = sweep ] && [ "$COMP_CWORD" -eq 2 ]; then
        COMPREPLY=($(compgen -W "plan run status versions cancel" -- "$cur"))
        return
    fi
    if [ "$cmd" = fits ] && [ "$COMP_CWORD" -eq 2 ]; then
        COMPREPLY=($(compgen -W "show" -- "$cur"))
        return
    fi
    if [ "$cmd" = data ] && [ "$COMP_CWORD" -eq 2 ]; then
        COMPREPLY=($(compgen -W "prepare" -- "$cur"))
        return
    fi
    COMPREPLY=($(compgen -f -X '!*.y*ml' -- "$cur") $(compgen -d -- "$cur"))
}
complete -F _scalelab scalelab
