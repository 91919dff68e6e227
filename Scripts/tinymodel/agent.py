"""Agent-shaped conversations for GLM-Tiny v2: what Aider, Cline and Claude-Code-like agents send (docs/reference/
protocol.md section 9), synthesized from templates with no third-party text except Python standard-library source
used as "file contents".

Three request styles, each in a long-context form (system prompt with rules, files and tool results in context,
multi-turn history) sized to a target token count:
- native: OpenAI `tools` (3-7 tools, generated names and parameters), the model answers with a GLM tool call whose
  argument value is copied from the request, or answers a question about the context without a tool;
- aider: Aider-like "whole file" edit format, the model returns the path and the whole updated file;
- xml: Cline-like tools described as XML in the system prompt, the model answers with one XML tool use.

Every word pool and phrasing template has a training half and a held-out half (`Pools(held_out)`): the held-out
evaluation never sees a training phrasing, tool name, parameter name, value vocabulary or source file.
Reasoning is one or two sentences and always closes, so `</think>` comes well within 150 tokens.
"""

import random
import re

from . import data

# --------------------------------------------------------------------------------------------------------------
# Word pools: (training, held-out)

PATH_DIRS = (["src", "lib", "app", "core", "tests", "tools", "scripts", "api", "server", "client", "utils", "models",
              "web", "cli", "db", "jobs", "config", "pkg", "internal", "common", "services", "handlers", "views",
              "static", "docs", "examples", "bench", "plugins", "net", "auth"],
             ["reports", "kernel", "engine", "vendor", "storage", "widgets", "pipeline", "gateway", "billing",
              "infra"])
PATH_STEMS = (["main", "utils", "parser", "server", "client", "config", "models", "views", "routes", "cache",
               "loader", "runner", "schema", "helpers", "store", "queue", "worker", "session", "tokens", "metrics",
               "logger", "errors", "settings", "format", "render", "index", "types", "state", "auth", "db"],
              ["ledger", "invoice", "scheduler", "registry", "compiler", "monitor", "uploader", "adapter",
               "checksum", "journal"])
PATH_EXTS = ([".py", ".js", ".ts", ".go", ".rs", ".md", ".json", ".toml", ".yaml", ".txt", ".c", ".sh"],
             [".py", ".swift", ".rb", ".kt", ".cfg"])
IDENTS = (["parse_args", "load_config", "run_server", "handle_request", "read_token", "build_index", "flush_cache",
           "open_session", "render_page", "check_auth", "retry_later", "split_lines", "make_client", "close_pool",
           "send_batch", "to_json", "from_bytes", "resolve_path", "merge_state", "emit_event"],
          ["compute_tax", "rotate_keys", "drain_queue", "sync_ledger", "patch_record", "verify_hash"])
PROGRAMS = (["pytest", "npm run", "make", "cargo", "go test", "git", "python3", "ls", "grep -rn", "docker", "pip",
             "swift build", "cat", "node", "yarn"],
            ["bundle exec", "gradle", "mvn", "deno task", "rake", "tox -e"])
PROGRAM_ARGS = (["build", "test", "lint", "check", "status", "log -n 5", "diff", "install", "run dev", "-q",
                 "--verbose", "fmt", "clean", "start", "bench"],
                ["verify", "package", "deploy", "coverage", "migrate", "doctor"])
HOSTS = (["example.com", "docs.example.org", "api.example.net", "wiki.example.com", "status.example.io"],
         ["intranet.example.dev", "help.example.info"])
WORDS = (["alpha", "bravo", "delta", "echo", "gamma", "kappa", "lima", "omega", "sigma", "tango", "zulu", "nova",
          "orbit", "pixel", "quartz", "raven", "solar", "tiger", "ultra", "vector"],
         ["falcon", "glacier", "hazel", "juniper", "lotus", "marlin"])

# Tool kinds: the value the request carries, tool-name verbs and nouns, parameter names, descriptions.
KINDS = {
    "read": {"value": "path",
             "verbs": (["read", "open", "view", "cat", "load", "show"], ["inspect", "peek"]),
             "nouns": (["file", "source", "text"], ["document", "contents"]),
             "params": (["path", "file_path", "filename", "file"], ["location", "doc_path"]),
             "desc": (["Read a file from the workspace and return its text.",
                       "Returns the contents of the file at the given path.",
                       "Open a text file and show what it contains."],
                      ["Fetches the document stored at a location and gives back its body."])},
    "run": {"value": "command",
            "verbs": (["run", "execute", "exec", "bash", "shell"], ["invoke", "launch"]),
            "nouns": (["command", "shell", "terminal", "cmd"], ["process", "console"]),
            "params": (["command", "cmd", "script", "cmdline"], ["shell_line", "invocation"]),
            "desc": (["Run a shell command in the project directory and return its output.",
                      "Executes a command line in a terminal.",
                      "Run a program and capture stdout and stderr."],
                     ["Starts a process from the given line and reports what it printed."])},
    "search": {"value": "pattern",
               "verbs": (["search", "grep", "find", "lookup"], ["scan", "locate"]),
               "nouns": (["code", "text", "files", "symbol"], ["occurrences", "matches"]),
               "params": (["pattern", "query", "regex", "text"], ["expression", "needle"]),
               "desc": (["Search the files of the project for a pattern.",
                         "Find every line that matches a regular expression.",
                         "Look up where a symbol is used in the code base."],
                        ["Scans the repository and lists the places an expression occurs."])},
    "list": {"value": "dir",
             "verbs": (["list", "ls", "browse", "tree"], ["enumerate", "survey"]),
             "nouns": (["directory", "folder", "dir", "files"], ["tree", "catalog"]),
             "params": (["path", "directory", "dir", "folder"], ["root", "where"]),
             "desc": (["List the entries of a directory.",
                       "Show the files and folders under a path.",
                       "Return the names in a folder."],
                      ["Enumerates what a folder holds, one name per line."])},
    "fetch": {"value": "url",
              "verbs": (["fetch", "get", "download", "open"], ["retrieve", "pull"]),
              "nouns": (["url", "page", "web", "link"], ["resource", "site"]),
              "params": (["url", "link", "address", "uri"], ["target", "href"]),
              "desc": (["Fetch a web page and return its text.",
                        "Download the content at a URL.",
                        "Get the body of an HTTP resource."],
                       ["Retrieves a remote resource by its address."])},
    "delete": {"value": "path",
               "verbs": (["delete", "remove", "rm", "drop"], ["erase", "discard"]),
               "nouns": (["file", "path", "entry"], ["artifact", "item"]),
               "params": (["path", "file_path", "target", "file"], ["victim", "item_path"]),
               "desc": (["Delete a file from the workspace.",
                         "Remove the file at the given path.",
                         "Deletes one file permanently."],
                        ["Erases an artifact so it no longer exists."])},
    "symbol": {"value": "ident",
               "verbs": (["find", "goto", "show", "describe"], ["explain", "trace"]),
               "nouns": (["definition", "function", "symbol", "def"], ["routine", "callable"]),
               "params": (["name", "symbol", "function", "identifier"], ["callable_name", "routine"]),
               "desc": (["Show where a function is defined and its signature.",
                         "Find the definition of a symbol.",
                         "Describe a function by name."],
                        ["Traces a routine to the place it is declared."])},
}
KIND_NAMES = sorted(KINDS)

# Request phrasings per kind, `{v}` is the value. Training and held-out phrasings are disjoint.
REQUESTS = {
    "read": (["Read {v}.", "Please read the file {v}.", "Open {v} and show me what is in it.", "Show me {v}.",
              "What does {v} contain?", "Can you read {v} for me?", "cat {v}", "I need the contents of {v}.",
              "Let me see {v}.", "Load the file {v}.", "Print the file {v}.", "Take a look at {v}."],
             ["Could you pull up {v}?", "{v} - what's inside?", "I'd like to inspect {v} before we continue.",
              "Bring up the text of {v}, please."]),
    "run": (["Run `{v}`.", "Please run {v}.", "Execute `{v}` and tell me the result.", "Can you run `{v}`?",
             "Run the command {v}.", "$ {v}", "Start `{v}` in the terminal.", "Try running `{v}`.",
             "Run {v} for me.", "Go ahead and execute {v}."],
            ["Kick off `{v}` and report back.", "What happens if we type `{v}`? Do it.",
             "Fire up `{v}`, please.", "Let's invoke `{v}` now."]),
    "search": (["Search for {v}.", "Find where {v} appears.", "Grep the code for {v}.", "Look for {v} in the project.",
                "Where is {v} used?", "Search the code base for `{v}`.", "Find every match of {v}.",
                "grep {v}"],
               ["Hunt down each occurrence of `{v}`.", "Which places mention {v}? Scan for it.",
                "Track down {v} across the repository."]),
    "list": (["List the files in {v}.", "What is in the {v} directory?", "ls {v}", "Show me the folder {v}.",
              "Which files are under {v}?", "List {v}.", "Browse {v} for me."],
             ["Give me an inventory of {v}.", "What lives inside {v}? Enumerate it.",
              "Survey the folder {v}, please."]),
    "fetch": (["Fetch {v}.", "Download {v} and summarize it.", "Open the page {v}.", "Get {v} for me.",
               "Read the web page at {v}.", "What does {v} say?"],
              ["Retrieve {v} and tell me what it's about.", "Pull {v} down and skim it."]),
    "delete": (["Delete {v}.", "Remove the file {v}.", "Please delete {v}, we don't need it.", "rm {v}",
                "Get rid of {v}.", "Remove {v} from the repo."],
               ["Erase {v} for good.", "{v} is obsolete - discard it."]),
    "symbol": (["Where is {v} defined?", "Show me the definition of {v}.", "Find the function {v}.",
                "What does {v} do?", "Go to {v}.", "Describe the function {v}."],
               ["Trace {v} back to its declaration.", "Explain the routine {v} to me."]),
}

PREFIXES = (["", "", "", "Thanks. ", "OK. ", "Next: ", "Now ", "Good. ", "Great, "],
            ["", "", "Alright then. ", "Perfect - "])

SYSTEM_INTROS = (["You are a coding agent working in the user's repository.",
                  "You are an autonomous software engineering assistant.",
                  "You are an expert programmer who helps users with their code using tools.",
                  "You are a careful assistant that edits and runs code on the user's machine."],
                 ["You act as a meticulous engineering copilot inside a terminal."])
SYSTEM_RULES = (["Keep answers short and to the point.", "Use the tools to inspect files before changing them.",
                 "Never invent file contents; read them first.", "Do not run destructive commands without a reason.",
                 "Prefer small, focused changes.", "Explain what you did in one or two sentences.",
                 "Call at most one tool at a time and wait for its result.",
                 "When a tool fails, read the error and try a different approach.",
                 "Follow the existing code style of the project.", "Do not add comments that restate the code.",
                 "Ask the user only when the request is ambiguous.", "Always use relative paths.",
                 "Write tests for new behaviour when the project has tests.",
                 "Output plain text; use Markdown only for code blocks.",
                 "Respect the user's instructions over your own preferences.",
                 "If the task is done, say so and stop."],
                ["Think about edge cases before replying.", "Quote paths exactly as the user wrote them.",
                 "Be brief; the user reads your answers in a terminal.",
                 "Check the project layout before assuming where things are."])


class Pools:
    """Training or held-out half of every pool."""

    def __init__(self, held_out):
        h = 1 if held_out else 0
        self.held_out = held_out
        self.dirs, self.stems, self.exts = PATH_DIRS[h], PATH_STEMS[h], PATH_EXTS[h]
        self.idents, self.programs, self.program_args = IDENTS[h], PROGRAMS[h], PROGRAM_ARGS[h]
        self.hosts, self.words = HOSTS[h], WORDS[h]
        self.kind = {k: {f: v[h] if isinstance(v, tuple) else v for f, v in spec.items()} for k, spec in KINDS.items()}
        self.requests = {k: v[h] for k, v in REQUESTS.items()}
        self.prefixes, self.intros, self.rules = PREFIXES[h], SYSTEM_INTROS[h], SYSTEM_RULES[h]
        files, held = data.split_code_files(data.stdlib_files())
        self.sources = held if held_out else files

    # values ---------------------------------------------------------------------------------------------------
    def path(self, rng):
        parts = [rng.choice(self.dirs) for _ in range(rng.randint(1, 3))]
        return "/".join(parts + [rng.choice(self.stems) + rng.choice(self.exts)])

    def value(self, rng, kind):
        what = self.kind[kind]["value"]
        if what == "path":
            return self.path(rng)
        if what == "dir":
            return "/".join(rng.choice(self.dirs) for _ in range(rng.randint(1, 3)))
        if what == "command":
            cmd = f"{rng.choice(self.programs)} {rng.choice(self.program_args)}"
            if rng.random() < 0.4:
                cmd += " " + self.path(rng)
            return cmd
        if what == "pattern":
            return rng.choice([rng.choice(self.idents), rng.choice(self.words).upper(),
                               f"def {rng.choice(self.idents)}", f"{rng.choice(self.words)}_{rng.randint(1, 99)}"])
        if what == "url":
            return f"https://{rng.choice(self.hosts)}/{rng.choice(self.words)}/{rng.choice(self.stems)}"
        if what == "ident":
            return rng.choice(self.idents)
        raise ValueError(what)

    # tools ----------------------------------------------------------------------------------------------------
    def tool(self, rng, kind, taken):
        spec = self.kind[kind]
        for _ in range(20):
            name = f"{rng.choice(spec['verbs'])}_{rng.choice(spec['nouns'])}"
            if rng.random() < 0.2:
                name = rng.choice(spec["verbs"]).capitalize() + rng.choice(spec["nouns"]).capitalize()
            if name not in taken:
                break
        param = rng.choice(spec["params"])
        desc = rng.choice(spec["desc"])
        props = {param: {"type": "string", "description": f"The {spec['value']} to use."}}
        required = [param]
        if rng.random() < 0.3:
            extra = rng.choice(["timeout", "limit", "recursive", "encoding", "verbose"])
            if extra != param:
                props[extra] = {"type": "integer" if extra in ("timeout", "limit") else "string",
                                "description": f"Optional {extra}."}
        if rng.random() < 0.3:
            desc += " " + " ".join(rng.sample(self.rules, rng.randint(1, 3)))
        schema = {"type": "function", "function": {"name": name, "description": desc,
                  "parameters": {"type": "object", "properties": props, "required": required}}}
        return {"name": name, "kind": kind, "param": param, "schema": schema}

    def system_prompt(self, rng, long):
        lines = [rng.choice(self.intros)]
        if long:
            lines.append("")
            lines.append("Rules:")
            for i, rule in enumerate(rng.sample(self.rules, rng.randint(4, len(self.rules) // 2 + 2))):
                lines.append(f"{i + 1}. {rule}")
            lines.append("")
            lines.append(f"Working directory: /home/{rng.choice(self.words)}/{rng.choice(self.words)}")
            lines.append(f"Platform: {rng.choice(['linux', 'darwin'])}")
        return "\n".join(lines)

    # context ----------------------------------------------------------------------------------------------------
    def source_excerpt(self, rng, max_chars):
        path = rng.choice(self.sources)
        text = data.read_text(path)
        if len(text) > max_chars:
            start = rng.randrange(0, len(text) - max_chars)
            start = text.find("\n", start) + 1
            text = text[start:start + max_chars]
            text = text[: text.rfind("\n") + 1] if "\n" in text else text
        return text

    def definitions(self, text):
        return re.findall(r"^\s*def ([A-Za-z_][A-Za-z0-9_]*)\(", text, re.M)


CHARS_PER_TOKEN = 3.6


def _think(rng, sentence):
    return sentence if rng.random() < 0.7 else sentence + " " + rng.choice(
        ["That is all I need.", "This is a single step.", "No other tool is needed yet."])


def _call(tool, value):
    return {"type": "function", "function": {"name": tool["name"], "arguments": {tool["param"]: value}}}


def native_conversation(rng, pools, target_tokens, thinking):
    """History of tool use over long file contents, then a request the model answers with a tool call (or, one time
    in five, a question about the context answered in text). Returns (messages, tools, first, expected)."""
    kinds = rng.sample(KIND_NAMES, rng.randint(3, len(KIND_NAMES)))
    tools, taken = [], set()
    for kind in kinds:
        tool = pools.tool(rng, kind, taken)
        taken.add(tool["name"])
        tools.append(tool)
    by_kind = {t["kind"]: t for t in tools}
    messages = [{"role": "system", "content": pools.system_prompt(rng, long=rng.random() < 0.8)}]
    budget = target_tokens * CHARS_PER_TOKEN - sum(len(str(t["schema"])) for t in tools) - 600
    history_read = []
    first_task = rng.choice(["Help me understand this project.", "I want to fix a bug in the parser.",
                             "Let's clean up the code a bit.", "We need to add logging.",
                             "Review the recent changes."] if not pools.held_out else
                            ["I'm onboarding on this code base; walk me through it."])
    messages.append({"role": "user", "content": first_task})
    while budget > 1500:
        path = pools.path(rng)
        chunk = pools.source_excerpt(rng, int(min(budget - 500, rng.choice([1500, 3000, 6000, 9000]))))
        if "read" in by_kind and rng.random() < 0.8:
            messages.append({"role": "assistant", "content": "", "tool_calls": [_call(by_kind["read"], path)]})
            messages.append({"role": "tool", "content": chunk})
        else:
            if messages[-1]["role"] == "user":
                messages.append({"role": "assistant", "content": rng.choice(["Understood.", "OK.", "Go on."])})
            messages.append({"role": "user", "content": f"Here is {path}:\n```\n{chunk}```"})
            messages.append({"role": "assistant", "content": rng.choice(["Got it.", "I have read it.", "OK."])})
            messages.append({"role": "user", "content": rng.choice(["Continue.", "Next.", "Good."])})
        history_read.append((path, chunk))
        budget -= len(chunk) + 120
        if rng.random() < 0.5:
            defs = pools.definitions(chunk)
            summary = (f"{path} defines {', '.join(defs[:3])}." if defs else f"{path} holds module-level code.")
            messages.append({"role": "assistant", "content": summary})
            messages.append({"role": "user", "content": rng.choice(["Continue.", "OK, keep going.", "Good."])})
    # The target turn.
    prefix = rng.choice(pools.prefixes)
    if history_read and rng.random() < 0.2:
        path, chunk = rng.choice(history_read)
        defs = pools.definitions(chunk)
        if defs:
            messages.append({"role": "user", "content": prefix + f"What is the first function defined in {path}? "
                             "Answer from what you already read."})
            first = len(messages)
            reasoning = f"I read {path} earlier. Its first function is {defs[0]}."
            messages.append({"role": "assistant", "content": f"The first function in {path} is `{defs[0]}`.",
                             **({"reasoning_content": reasoning} if thinking else {})})
            return messages, [t["schema"] for t in tools], first, {"kind": "answer"}
    tool = rng.choice(tools)
    value = pools.value(rng, tool["kind"])
    request = rng.choice(pools.requests[tool["kind"]]).format(v=value)
    messages.append({"role": "user", "content": prefix + request})
    first = len(messages)
    reasoning = _think(rng, f"The user asks me to {tool['kind']} {value}. I will call {tool['name']} with "
                            f"{tool['param']} {value}.")
    preface = rng.choice(["", "", "", f"I'll {tool['kind']} that now."])
    messages.append({"role": "assistant", "content": preface, "tool_calls": [_call(tool, value)],
                     **({"reasoning_content": reasoning} if thinking else {})})
    expected = {"kind": "tool", "tool": tool["name"], "param": tool["param"], "value": value}
    if not pools.held_out and rng.random() < 0.5:
        result = pools.source_excerpt(rng, 400) if tool["kind"] == "read" else rng.choice(
            ["ok", "done", "exit code 0", "3 matches", "no output", "error: not found"])
        messages.append({"role": "tool", "content": result})
        answer = rng.choice([f"Done: I used {tool['name']} on {value}.", f"The result for {value} is above.",
                             f"{tool['name']} finished for {value}."])
        messages.append({"role": "assistant", "content": answer,
                         **({"reasoning_content": f"The tool answered for {value}. I can reply now."}
                            if thinking else {})})
    return messages, [t["schema"] for t in tools], first, expected


AIDER_SYSTEM = ("Act as an expert software developer.\nTake requests for changes to the supplied code.\n"
                "If a request is ambiguous, ask questions.\n\nOnce you understand the request you MUST:\n"
                "1. Determine if any code changes are needed.\n2. Explain any needed changes.\n"
                "3. If changes are needed, output a copy of each file that needs changes.\n\n"
                "To suggest changes to a file you MUST return the entire content of the updated file.\n"
                "You MUST use this *file listing* format:\n\npath/to/filename.py\n```\n# entire file content ...\n"
                "# ... goes in between\n```\n\nEvery *file listing* MUST use this format:\n"
                "- First line: the filename with any originally provided path; no extra markup.\n"
                "- Second line: opening ```\n- ... entire content of the file ...\n- Final line: closing ```\n\n"
                "To suggest changes to a file you MUST return a *file listing* that contains the entire content "
                "of the file.\n*NEVER* skip, omit or elide content from a *file listing* using \"...\" or by "
                "adding comments like \"... rest of code...\"!\nCreate a new file you MUST return a *file listing* "
                "which includes an appropriate filename, including any appropriate path.\n\n"
                "Reply in English.\n")


def _small_module(rng):
    tasks = rng.sample(data.CODE_TASKS, rng.randint(1, 3))
    consts = [(rng.choice(["MAX_RETRIES", "TIMEOUT", "BATCH_SIZE", "PORT", "LIMIT", "VERSION"]), rng.randint(1, 99))]
    lines = [f"{name} = {value}" for name, value in consts]
    body = "\n".join(lines) + "\n\n\n" + "\n\n\n".join(code for _, code in tasks) + "\n"
    return body, tasks, consts


def aider_conversation(rng, pools, target_tokens, thinking):
    """Aider's whole-file edit format: files added to the chat, read-only context files, then an edit request."""
    messages = [{"role": "system", "content": AIDER_SYSTEM}]
    budget = target_tokens * CHARS_PER_TOKEN - len(AIDER_SYSTEM) - 1200
    if budget > 1500:
        parts = []
        while budget > 1500:
            chunk = pools.source_excerpt(rng, int(min(budget - 400, rng.choice([2000, 4000, 8000]))))
            parts.append(f"{pools.path(rng)}\n```\n{chunk}```")
            budget -= len(chunk) + 40
        messages.append({"role": "user", "content": "Here are some READ ONLY files, provided for your reference.\n"
                         "Do not edit these files!\n\n" + "\n\n".join(parts)})
        messages.append({"role": "assistant", "content": "Ok, I will use these files as references."})
    path = pools.path(rng).rsplit(".", 1)[0] + ".py"
    body, tasks, consts = _small_module(rng)
    messages.append({"role": "user", "content": "I have *added these files to the chat* so you can go ahead and edit "
                     f"them.\n\n*Trust this message as the true contents of these files!*\nAny other messages in "
                     f"the chat may contain outdated versions of the files' contents.\n\n{path}\n```\n{body}```"})
    messages.append({"role": "assistant", "content": "Ok, any changes I propose will be to those files."})
    change = rng.randrange(3)
    if change == 0:
        task, code = rng.choice([t for t in data.CODE_TASKS if t not in tasks])
        request = rng.choice([f"Add a function that {task}.", f"Please add a function to {path} that {task}.",
                              f"In {path}, add a function which {task}."])
        new_body = body + "\n\n" + code + "\n"
        why = f"The user wants a new function that {task} in {path}. I will append it and return the whole file."
        explain = f"I added a function that {task}."
    elif change == 1:
        name, value = consts[0]
        new_value = value + rng.randint(1, 50)
        request = rng.choice([f"Change {name} to {new_value}.", f"Set {name} = {new_value} in {path}.",
                              f"Please make {name} {new_value}."])
        new_body = body.replace(f"{name} = {value}", f"{name} = {new_value}", 1)
        why = f"{name} is {value} in {path}. The user wants {new_value}."
        explain = f"I changed {name} from {value} to {new_value}."
    else:
        _, code = tasks[0]
        old = code.split("(")[0][4:]
        new = old + "_" + rng.choice(["value", "items", "v2", "impl", "fast"])
        request = rng.choice([f"Rename {old} to {new}.", f"Please rename the function {old} to {new} in {path}."])
        new_body = body.replace(f"def {old}(", f"def {new}(").replace(f"{old}(n - 1)", f"{new}(n - 1)")
        why = f"The function {old} in {path} must become {new}."
        explain = f"I renamed {old} to {new}."
    messages.append({"role": "user", "content": request})
    first = len(messages)
    answer = f"{explain}\n\n{path}\n```\n{new_body}```"
    messages.append({"role": "assistant", "content": answer, **({"reasoning_content": why} if thinking else {})})
    return messages, None, first, {"kind": "edit", "path": path}


XML_TOOLS = [("read_file", "path", "Read the contents of a file at the specified path."),
             ("execute_command", "command", "Run a CLI command on the system."),
             ("search_files", "regex", "Search files in a directory for a regular expression."),
             ("list_files", "path", "List files and directories in a directory.")]
XML_KIND = {"read_file": "read", "execute_command": "run", "search_files": "search", "list_files": "list"}


def xml_conversation(rng, pools, target_tokens, thinking):
    """Cline-like: XML tools described in the system prompt, no `tools` field; the answer is one XML tool use."""
    lines = [rng.choice(pools.intros), "", "TOOL USE", "",
             "You use one tool per message, written as XML: the tool name as the tag and each parameter as a "
             "nested tag.", ""]
    for name, param, desc in XML_TOOLS:
        lines += [f"## {name}", f"Description: {desc}", "Parameters:", f"- {param}: (required)", "Usage:",
                  f"<{name}>", f"<{param}>value</{param}>", f"</{name}>", ""]
    lines += ["## attempt_completion", "Description: Present the result of the task to the user.", "Usage:",
              "<attempt_completion>", "<result>what you did</result>", "</attempt_completion>", "", "RULES", ""]
    lines += [f"- {r}" for r in rng.sample(pools.rules, rng.randint(4, len(pools.rules) // 2 + 2))]
    messages = [{"role": "system", "content": "\n".join(lines)}]
    budget = target_tokens * CHARS_PER_TOKEN - len(messages[0]["content"]) - 800
    listing = "\n".join(sorted({pools.path(rng) for _ in range(rng.randint(5, 25))}))
    task = rng.choice(["Fix the failing test.", "Add type hints to the helpers.", "Find out why the build is slow.",
                       "Document the public functions."] if not pools.held_out else
                      ["Tidy up the error handling."])
    messages.append({"role": "user", "content": f"<task>\n{task}\n</task>\n<environment_details>\n# Current Working "
                     f"Directory Files\n{listing}\n</environment_details>"})
    while budget > 1500:
        path = pools.path(rng)
        chunk = pools.source_excerpt(rng, int(min(budget - 400, rng.choice([2000, 5000, 9000]))))
        messages.append({"role": "assistant", "content": f"<read_file>\n<path>{path}</path>\n</read_file>"})
        messages.append({"role": "user", "content": f"[read_file for '{path}'] Result:\n{chunk}"})
        budget -= len(chunk) + 100
    name, param, _ = rng.choice(XML_TOOLS)
    value = pools.value(rng, XML_KIND[name])
    request = rng.choice(pools.requests[XML_KIND[name]]).format(v=value)
    messages.append({"role": "user", "content": request})
    first = len(messages)
    if rng.random() < 0.15 and not pools.held_out:
        answer = "<attempt_completion>\n<result>The task is complete.</result>\n</attempt_completion>"
        messages[-1]["content"] = "That is all, thank you. Please finish."
        why = "The user says the task is finished. I will present the result."
    else:
        answer = f"<{name}>\n<{param}>{value}</{param}>\n</{name}>"
        why = f"I need to use {name} with {param} {value}."
    messages.append({"role": "assistant", "content": answer, **({"reasoning_content": why} if thinking else {})})
    return messages, None, first, {"kind": "xml", "tool": name, "value": value}


STYLES = [("native", native_conversation, 0.5), ("aider", aider_conversation, 0.3), ("xml", xml_conversation, 0.2)]


def agent_conversation(rng, pools, target_tokens, style=None):
    """(messages, tools, first, thinking_mode, expected, style) for one agent-shaped request of about
    target_tokens tokens. thinking_mode: None (template default: the model thinks), True, or False (/nothink)."""
    if style is None:
        style = rng.choices([s for s, _, _ in STYLES], weights=[w for _, _, w in STYLES])[0]
    make = {s: f for s, f, _ in STYLES}[style]
    thinking_mode = rng.choices([None, True, False], weights=[0.55, 0.15, 0.30])[0]
    messages, tools, first, expected = make(rng, pools, target_tokens, thinking_mode is not False)
    return messages, tools, first, thinking_mode, expected, style
