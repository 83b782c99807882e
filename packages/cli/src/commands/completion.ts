import { Command } from "commander";
import { UsageError } from "../parse.js";
import { examples } from "./util.js";

interface Node {
  words: string[];
  options: string[];
  children: Map<string, Node>;
}

function tree(cmd: Command): Node {
  const children = new Map<string, Node>();
  for (const sub of cmd.commands) {
    const node = tree(sub);
    children.set(sub.name(), node);
    for (const alias of sub.aliases()) children.set(alias, node);
  }
  const options = cmd.options.flatMap((o) => [o.long, o.short].filter((s): s is string => Boolean(s)));
  return { words: cmd.commands.map((c) => c.name()), options: [...options, "--help"], children };
}

/** Paths like "keys create" → completions, from the command tree (no runtime lookups). */
function table(root: Command): [string, string][] {
  const out: [string, string][] = [];
  const globals = root.options.flatMap((o) => [o.long].filter((s): s is string => Boolean(s)));
  const walk = (node: Node, path: string[]) => {
    out.push([path.join(" "), [...node.words, ...node.options, ...(path.length ? globals : [])].join(" ")]);
    for (const [name, child] of node.children) walk(child, [...path, name]);
  };
  walk(tree(root), []);
  return out;
}

function bash(root: Command): string {
  const cases = table(root)
    .map(([path, words]) => `    "${path}") words="${words}" ;;`)
    .join("\n");
  return `# keyward bash completion: eval "$(keyward completion bash)" (or save to /etc/bash_completion.d/keyward)
_keyward() {
  local cur path="" w words
  cur="\${COMP_WORDS[COMP_CWORD]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ "$w" == -* ]] && continue
    if [[ -z "$path" ]]; then candidate="$w"; else candidate="$path $w"; fi
    case "$candidate" in
${table(root)
  .filter(([p]) => p)
  .map(([p]) => `      "${p}") path="$candidate" ;;`)
  .join("\n")}
    esac
  done
  case "$path" in
${cases}
    *) words="" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _keyward keyward
`;
}

function zsh(root: Command): string {
  return `#compdef keyward
# keyward zsh completion: eval "$(keyward completion zsh)" (or save as _keyward in your $fpath)
${bash(root)
  .split("\n")
  .filter((l) => !l.startsWith("#"))
  .join("\n")
  .replace("complete -o default -F _keyward keyward", "")}
if ! whence -w complete >/dev/null 2>&1 || [[ "$(whence -w complete)" != *function* ]]; then
  autoload -U +X bashcompinit && bashcompinit
fi
complete -o default -F _keyward keyward
`;
}

export function completionCommand(root: () => Command): Command {
  return examples(
    new Command("completion").description("print a shell completion script").argument("<shell>", "bash or zsh"),
    ['eval "$(keyward completion bash)"   # in ~/.bashrc', 'eval "$(keyward completion zsh)"    # in ~/.zshrc'],
  ).action((shell: string) => {
    if (shell === "bash") process.stdout.write(bash(root()));
    else if (shell === "zsh") process.stdout.write(zsh(root()));
    else throw new UsageError(`completion: unknown shell "${shell}" (bash or zsh)`);
  });
}
