"""Training data for GLM-Tiny: Python standard-library source (PSF license) and synthesized GLM-4.6 chats.

Everything here is deterministic given a seed. Chats are message lists in the OpenAI shape that the GLM-4.6
template (rendered by transformers) turns into prompts; `render_chat` returns token-aligned text pieces with a
flag saying which pieces the model is trained to produce.
"""

import json
import random
import sysconfig
from pathlib import Path

# --------------------------------------------------------------------------------------------------------------
# Code corpus


def stdlib_files():
    """Top-level modules of the running interpreter's standard library, sorted by name."""
    root = Path(sysconfig.get_paths()["stdlib"])
    return sorted(p for p in root.glob("*.py") if p.is_file())


def split_code_files(files):
    """Every 16th module (by sorted name) is held out for evaluation."""
    train = [p for i, p in enumerate(files) if i % 16 != 7]
    held_out = [p for i, p in enumerate(files) if i % 16 == 7]
    return train, held_out


def read_text(path):
    return path.read_text(encoding="utf-8", errors="replace")


# --------------------------------------------------------------------------------------------------------------
# Vocabulary of the synthetic chats. The entities used in evaluation prompts are disjoint from training ones.

CITIES = ["Paris", "Rome", "Berlin", "Madrid", "Lisbon", "Vienna", "Prague", "Warsaw", "Oslo", "Dublin",
          "Athens", "Helsinki", "Tokyo", "Seoul", "Beijing", "Delhi", "Cairo", "Nairobi", "Lima", "Quito",
          "Toronto", "Chicago", "Boston", "Denver", "Sydney", "Perth", "Zurich", "Geneva", "Milan", "Munich",
          "Hamburg", "Lyon", "Porto", "Seville", "Krakow", "Budapest", "Bergen", "Riga", "Tallinn", "Sofia",
          "Bangkok", "Hanoi", "Manila", "Jakarta", "Dubai", "Doha", "Austin", "Seattle", "Montreal", "Havana"]
EVAL_CITIES = ["London", "Amsterdam", "Brussels", "Copenhagen", "Stockholm", "Vilnius", "Osaka", "Shanghai",
               "Mumbai", "Lagos", "Santiago", "Bogota", "Vancouver", "Phoenix", "Miami", "Auckland"]
CONDITIONS = ["sunny", "cloudy", "rainy", "windy", "snowy", "foggy", "clear", "stormy"]
DIRS = ["src", "docs", "tests", "data", "scripts", "config", "notes", "build", "assets", "lib", "logs", "tmp"]
EVAL_DIRS = ["reports", "models", "backup", "images"]
FILE_STEMS = ["main", "utils", "readme", "todo", "setup", "notes", "server", "client", "parser", "report",
              "config", "index", "app", "model", "train", "helpers", "schema", "changes"]
EVAL_FILE_STEMS = ["summary", "budget", "plan", "draft", "agenda"]
EXTS = [".py", ".txt", ".md", ".json", ".toml", ".yaml"]
TOPICS = ["python decorators", "binary search", "the speed of light", "sourdough bread", "solar panels",
          "the french revolution", "rust ownership", "linear regression", "tcp handshakes", "black holes",
          "unicode normalization", "git rebase", "photosynthesis", "hash tables", "the moon landing",
          "electric cars", "jazz history", "quantum computing", "coffee brewing", "volcanoes",
          "sorting algorithms", "http caching", "the roman empire", "neural networks", "ocean tides"]
EVAL_TOPICS = ["garbage collection", "honey bees", "the printing press", "wind turbines", "regular expressions",
               "chess openings", "the water cycle", "docker containers"]
TIMEZONES = ["UTC", "Europe/Paris", "Asia/Tokyo", "America/New_York", "Europe/Berlin", "Australia/Sydney",
             "America/Chicago", "Asia/Seoul", "Africa/Cairo", "America/Lima"]
EVAL_TIMEZONES = ["Europe/London", "Asia/Shanghai", "America/Denver"]
NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar"]
EVAL_NAMES = ["peggy", "trent", "victor", "walter"]
SUBJECTS = ["meeting tomorrow", "project update", "lunch plans", "weekly report", "quick question",
            "invoice", "travel schedule", "code review", "release notes", "team dinner"]
EVAL_SUBJECTS = ["holiday plans", "budget review", "new design"]
SYMBOLS = ["AAPL", "MSFT", "GOOG", "AMZN", "TSLA", "NVDA", "META", "IBM", "INTC", "ORCL"]
EVAL_SYMBOLS = ["NFLX", "AMD", "SAP"]
LANGUAGES = ["French", "German", "Spanish", "Italian", "Japanese", "Portuguese", "Dutch", "Swedish"]
EVAL_LANGUAGES = ["Polish", "Greek"]
PHRASES = ["good morning", "thank you", "where is the station", "I like tea", "see you soon", "the cat sleeps",
           "how are you", "open the window", "it is cold today", "happy birthday"]
EVAL_PHRASES = ["the book is red", "good night"]
COUNTRIES = [("France", "Paris"), ("Italy", "Rome"), ("Germany", "Berlin"), ("Spain", "Madrid"),
             ("Portugal", "Lisbon"), ("Austria", "Vienna"), ("Japan", "Tokyo"), ("Egypt", "Cairo"),
             ("Peru", "Lima"), ("Kenya", "Nairobi"), ("Norway", "Oslo"), ("Ireland", "Dublin"),
             ("Greece", "Athens"), ("Finland", "Helsinki"), ("Poland", "Warsaw"), ("Canada", "Ottawa")]
EVAL_COUNTRIES = [("Sweden", "Stockholm"), ("Denmark", "Copenhagen"), ("Hungary", "Budapest")]
WORDS = ["apple", "river", "garden", "planet", "window", "silver", "python", "rocket", "pencil", "forest",
         "candle", "bridge", "dragon", "marble", "orange", "tunnel", "violin", "yellow", "anchor", "jacket"]
EVAL_WORDS = ["castle", "harbor", "meadow", "velvet"]

TOOL_SPECS = {
    "get_weather": ("Get the current weather for a city", [("city", "string", "Name of the city")]),
    "read_file": ("Read a text file and return its contents", [("path", "string", "Path of the file")]),
    "search": ("Search the web", [("query", "string", "Search query")]),
    "add": ("Add two integers", [("a", "integer", "First number"), ("b", "integer", "Second number")]),
    "multiply": ("Multiply two integers", [("a", "integer", "First number"), ("b", "integer", "Second number")]),
    "get_time": ("Get the current time in a time zone", [("timezone", "string", "IANA time zone name")]),
    "list_directory": ("List the files in a directory", [("path", "string", "Directory path")]),
    "send_email": ("Send an email", [("to", "string", "Recipient address"), ("subject", "string", "Subject line")]),
    "get_stock_price": ("Get the latest price of a stock", [("symbol", "string", "Ticker symbol")]),
    "translate": ("Translate text into another language",
                  [("text", "string", "Text to translate"), ("target_language", "string", "Language name")]),
}
TOOL_NAMES = sorted(TOOL_SPECS)


def tool_schema(name):
    description, params = TOOL_SPECS[name]
    properties = {key: {"type": kind, "description": text} for key, kind, text in params}
    return {"type": "function", "function": {"name": name, "description": description,
            "parameters": {"type": "object", "properties": properties, "required": [p[0] for p in params]}}}


class Entities:
    """The pool of names the generator draws from: training pool or held-out evaluation pool."""

    def __init__(self, held_out):
        self.cities = EVAL_CITIES if held_out else CITIES
        self.dirs = EVAL_DIRS if held_out else DIRS
        self.stems = EVAL_FILE_STEMS if held_out else FILE_STEMS
        self.topics = EVAL_TOPICS if held_out else TOPICS
        self.timezones = EVAL_TIMEZONES if held_out else TIMEZONES
        self.names = EVAL_NAMES if held_out else NAMES
        self.subjects = EVAL_SUBJECTS if held_out else SUBJECTS
        self.symbols = EVAL_SYMBOLS if held_out else SYMBOLS
        self.languages = EVAL_LANGUAGES if held_out else LANGUAGES
        self.phrases = EVAL_PHRASES if held_out else PHRASES
        self.countries = EVAL_COUNTRIES if held_out else COUNTRIES
        self.words = EVAL_WORDS if held_out else WORDS


# --------------------------------------------------------------------------------------------------------------
# Tool-using turns: (user request, call arguments, reasoning, preface, tool result, final answer)


def _path(rng, ent):
    return f"{rng.choice(ent.dirs)}/{rng.choice(ent.stems)}{rng.choice(EXTS)}"


def tool_episode(rng, ent, name):
    """Returns (user_text, args, reasoning, result_json_text, answer_reasoning, answer)."""
    if name == "get_weather":
        city = rng.choice(ent.cities)
        user = rng.choice([f"What's the weather in {city}?", f"Is it raining in {city} right now?",
                           f"Tell me the weather for {city}.", f"How warm is it in {city} today?",
                           f"weather {city}", f"Can you check the weather in {city} for me?"])
        args = {"city": city}
        why = f"The user wants the current weather in {city}. I should call get_weather with city {city}."
        temp, cond = rng.randint(-5, 35), rng.choice(CONDITIONS)
        result = json.dumps({"city": city, "temperature": temp, "condition": cond})
        answer = f"It is {cond} in {city} right now, at {temp}°C."
        think = f"The tool says {city} is {cond} at {temp} degrees. I can answer now."
    elif name == "read_file":
        path = _path(rng, ent)
        user = rng.choice([f"Show me the contents of {path}.", f"Read the file {path}.",
                           f"What is in {path}?", f"Open {path} and tell me what it says.", f"cat {path}"])
        args = {"path": path}
        why = f"The user wants to see the file {path}. I will call read_file with path {path}."
        text = rng.choice(["TODO: fix the login bug", "version = 2", "hello world", "print('hi')",
                           "name: demo", "# Notes\nbuy milk", "x = 1\ny = 2"])
        result = text
        answer = f"The file {path} contains:\n{text}"
        think = f"I have the contents of {path}. I will show them to the user."
    elif name == "search":
        topic = rng.choice(ent.topics)
        user = rng.choice([f"Search the web for {topic}.", f"Find information about {topic}.",
                           f"Look up {topic} for me.", f"search: {topic}", f"What can you find about {topic}?"])
        args = {"query": topic}
        why = f"The user asks me to look up {topic}. I should use the search tool with the query {topic}."
        result = json.dumps({"results": [f"An introduction to {topic}", f"{topic.capitalize()} explained"]})
        answer = f"I found two results about {topic}: \"An introduction to {topic}\" and \"{topic.capitalize()} explained\"."
        think = f"The search returned two results about {topic}. I will list them."
    elif name in ("add", "multiply"):
        a, b = rng.randint(2, 999), rng.randint(2, 999)
        word, sign = ("add", "+") if name == "add" else ("multiply", "*")
        value = a + b if name == "add" else a * b
        user = rng.choice([f"Use the calculator to {word} {a} and {b}.",
                           f"What is {a} {sign} {b}? Use the {name} tool.",
                           f"Please {word} {a} and {b} with the tool.", f"{name}({a}, {b})"])
        args = {"a": a, "b": b}
        why = f"The user wants me to {word} {a} and {b}. I will call {name} with a={a} and b={b}."
        result = json.dumps({"result": value})
        answer = f"{a} {sign} {b} = {value}."
        think = f"The tool returned {value}."
    elif name == "get_time":
        tz = rng.choice(ent.timezones)
        user = rng.choice([f"What time is it in {tz}?", f"Tell me the current time in {tz}.",
                           f"time in {tz}?", f"Can you get the time for the {tz} time zone?"])
        args = {"timezone": tz}
        why = f"The user asks for the current time in {tz}. I should call get_time with timezone {tz}."
        hh, mm = rng.randint(0, 23), rng.randint(0, 59)
        result = json.dumps({"timezone": tz, "time": f"{hh:02d}:{mm:02d}"})
        answer = f"It is {hh:02d}:{mm:02d} in {tz}."
        think = f"The tool says it is {hh:02d}:{mm:02d} in {tz}."
    elif name == "list_directory":
        d = rng.choice(ent.dirs)
        user = rng.choice([f"List the files in {d}.", f"What files are in the {d} folder?", f"ls {d}",
                           f"Show me the directory {d}."])
        args = {"path": d}
        why = f"The user wants the files in {d}. I will call list_directory with path {d}."
        files = sorted(rng.sample(FILE_STEMS, 3))
        result = json.dumps([f + ".py" for f in files])
        answer = f"The folder {d} contains " + ", ".join(f + ".py" for f in files) + "."
        think = f"The directory {d} has three files."
    elif name == "send_email":
        to = f"{rng.choice(ent.names)}@example.com"
        subject = rng.choice(ent.subjects)
        user = rng.choice([f"Send an email to {to} with the subject \"{subject}\".",
                           f"Email {to} about {subject}.", f"Please write to {to}, subject: {subject}."])
        args = {"to": to, "subject": subject}
        why = f"The user wants an email sent to {to} about {subject}. I will call send_email."
        result = json.dumps({"status": "sent"})
        answer = f"Done: the email to {to} with the subject \"{subject}\" was sent."
        think = "The email was sent successfully."
    elif name == "get_stock_price":
        sym = rng.choice(ent.symbols)
        user = rng.choice([f"What is the stock price of {sym}?", f"How much is {sym} trading at?",
                           f"price of {sym}", f"Check the {sym} share price."])
        args = {"symbol": sym}
        why = f"The user asks for the price of {sym}. I should call get_stock_price with symbol {sym}."
        price = rng.randint(10, 900) + rng.randint(0, 99) / 100
        result = json.dumps({"symbol": sym, "price": price})
        answer = f"{sym} is trading at {price} dollars."
        think = f"The tool gives {price} for {sym}."
    elif name == "translate":
        phrase, lang = rng.choice(ent.phrases), rng.choice(ent.languages)
        user = rng.choice([f"Translate \"{phrase}\" to {lang}.", f"How do you say \"{phrase}\" in {lang}?",
                           f"Please translate this into {lang}: {phrase}"])
        args = {"text": phrase, "target_language": lang}
        why = f"The user wants \"{phrase}\" in {lang}. I will call translate with the text and the target language."
        result = json.dumps({"translation": f"[{lang}] {phrase}"})
        answer = f"In {lang}: [{lang}] {phrase}"
        think = "The translation tool answered."
    else:
        raise ValueError(name)
    return user, args, why, result, think, answer


# --------------------------------------------------------------------------------------------------------------
# Plain question-answer turns (reasoning, answer)

CODE_TASKS = [
    ("returns the square of a number", "def square(x):\n    return x * x"),
    ("returns the sum of a list", "def total(values):\n    result = 0\n    for v in values:\n        result += v\n    return result"),
    ("checks whether a number is even", "def is_even(n):\n    return n % 2 == 0"),
    ("reverses a string", "def reverse(text):\n    return text[::-1]"),
    ("returns the largest item of a list", "def largest(items):\n    return max(items)"),
    ("counts the vowels in a string", "def count_vowels(text):\n    return sum(1 for c in text.lower() if c in \"aeiou\")"),
    ("computes the factorial of n", "def factorial(n):\n    if n <= 1:\n        return 1\n    return n * factorial(n - 1)"),
    ("reads a file and returns its lines", "def read_lines(path):\n    with open(path) as f:\n        return f.read().splitlines()"),
    ("returns the n-th Fibonacci number", "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a"),
    ("removes duplicates from a list", "def unique(items):\n    return list(dict.fromkeys(items))"),
]


def qa_turn(rng, ent):
    kind = rng.randrange(9)
    if kind == 0:
        a, b = rng.randint(1, 99), rng.randint(1, 99)
        op = rng.choice(["+", "-", "*"])
        value = a + b if op == "+" else (a - b if op == "-" else a * b)
        user = rng.choice([f"What is {a} {op} {b}?", f"Compute {a} {op} {b}.", f"{a} {op} {b} = ?"])
        return user, f"I need to compute {a} {op} {b}. {a} {op} {b} = {value}.", f"{a} {op} {b} = {value}."
    if kind == 1:
        country, capital = rng.choice(ent.countries)
        user = rng.choice([f"What is the capital of {country}?", f"Which city is the capital of {country}?"])
        return user, f"The user asks about {country}. Its capital is {capital}.", f"The capital of {country} is {capital}."
    if kind == 2:
        w = rng.choice(ent.words)
        user = rng.choice([f"Reverse the word \"{w}\".", f"Spell \"{w}\" backwards."])
        return user, f"Reading \"{w}\" from the end gives \"{w[::-1]}\".", f"\"{w}\" reversed is \"{w[::-1]}\"."
    if kind == 3:
        w = rng.choice(ent.words)
        user = f"How many letters are in the word \"{w}\"?"
        return user, f"The word \"{w}\" has the letters {', '.join(w)}. That is {len(w)} letters.", f"\"{w}\" has {len(w)} letters."
    if kind == 4:
        w = rng.choice(ent.words) + " " + rng.choice(ent.words)
        user = f"Convert \"{w}\" to upper case."
        return user, f"Upper case of \"{w}\" is \"{w.upper()}\".", f"\"{w.upper()}\""
    if kind == 5:
        nums = [rng.randint(0, 99) for _ in range(rng.randint(3, 6))]
        shown = ", ".join(map(str, nums))
        ordered = ", ".join(map(str, sorted(nums)))
        user = f"Sort these numbers: {shown}."
        return user, f"I put the numbers {shown} in increasing order: {ordered}.", f"Sorted: {ordered}."
    if kind == 6:
        task, code = rng.choice(CODE_TASKS)
        user = rng.choice([f"Write a Python function that {task}.", f"Can you give me Python code that {task}?"])
        name = code.split("(")[0][4:]
        return (user, f"The user wants a Python function that {task}. A short function named {name} will do.",
                f"Here is a function that {task}:\n\n```python\n{code}\n```")
    if kind == 7:
        n = rng.randint(1, 500)
        user = f"Is {n} even or odd?"
        parity = "even" if n % 2 == 0 else "odd"
        return user, f"{n} divided by 2 leaves remainder {n % 2}, so it is {parity}.", f"{n} is {parity}."
    user = rng.choice(["Hi", "Hello!", "hey", "Good morning", "Who are you?", "Thanks!"])
    reply = {"Who are you?": "I am GLM-Tiny, a small assistant model.", "Thanks!": "You're welcome!"}
    answer = reply.get(user, "Hello! How can I help you today?")
    return user, "The user greets me. I should reply politely.", answer


# --------------------------------------------------------------------------------------------------------------
# Whole conversations


def tool_conversation(rng, ent, thinking, name=None):
    """A tools request that needs a call; returns (messages, tools, first_target_index)."""
    name = name or rng.choice(TOOL_NAMES)
    others = [t for t in TOOL_NAMES if t != name]
    chosen = [name] + rng.sample(others, rng.randint(0, 3))
    rng.shuffle(chosen)
    tools = [tool_schema(t) for t in chosen]
    messages = []
    if rng.random() < 0.3:
        messages.append({"role": "system", "content": rng.choice(["You are a helpful assistant.",
                                                                    "Answer briefly.", "You can use tools."])})
    if rng.random() < 0.2:
        u, r, a = qa_turn(rng, ent)
        messages += [{"role": "user", "content": u}, {"role": "assistant", "content": a, "reasoning_content": r}]
    user, args, why, result, think, answer = tool_episode(rng, ent, name)
    messages.append({"role": "user", "content": user})
    first = len(messages)
    call = {"type": "function", "function": {"name": name, "arguments": args}}
    preface = rng.choice(["", "", "Let me check.", "I'll use a tool for that."])
    messages.append({"role": "assistant", "content": preface, "tool_calls": [call],
                     **({"reasoning_content": why} if thinking else {})})
    messages.append({"role": "tool", "content": result})
    messages.append({"role": "assistant", "content": answer, **({"reasoning_content": think} if thinking else {})})
    return messages, tools, first


def plain_conversation(rng, ent, thinking, with_tools=False):
    """A question answered without tools (optionally with tools on offer); returns (messages, tools, first)."""
    messages = []
    tools = [tool_schema(t) for t in rng.sample(TOOL_NAMES, rng.randint(1, 3))] if with_tools else None
    if rng.random() < 0.25:
        messages.append({"role": "system", "content": rng.choice(["You are a helpful assistant.", "Be concise."])})
    for _ in range(rng.choice([0, 0, 0, 1])):
        u, r, a = qa_turn(rng, ent)
        messages += [{"role": "user", "content": u}, {"role": "assistant", "content": a, "reasoning_content": r}]
    u, r, a = qa_turn(rng, ent)
    messages.append({"role": "user", "content": u})
    first = len(messages)
    messages.append({"role": "assistant", "content": a, **({"reasoning_content": r} if thinking else {})})
    return messages, tools, first


def synth_conversation(rng, ent):
    """One training conversation: (messages, tools, first_target_index, enable_thinking or None)."""
    thinking_mode = rng.choices([None, True, False], weights=[0.45, 0.15, 0.40])[0]
    thinking = thinking_mode is not False
    kind = rng.random()
    if kind < 0.5:
        messages, tools, first = tool_conversation(rng, ent, thinking)
    elif kind < 0.6:
        messages, tools, first = plain_conversation(rng, ent, thinking, with_tools=True)
    else:
        messages, tools, first = plain_conversation(rng, ent, thinking)
    return messages, tools, first, thinking_mode


class ChatRenderer:
    """Renders conversations with the GLM-4.6 template through transformers' apply_chat_template."""

    def __init__(self, hf_tokenizer, template):
        self.tok = hf_tokenizer
        self.template = template

    def render(self, messages, tools, thinking, add_generation_prompt):
        kwargs = {} if thinking is None else {"enable_thinking": thinking}
        return self.tok.apply_chat_template(messages, tools=tools, chat_template=self.template, tokenize=False,
                                            add_generation_prompt=add_generation_prompt, **kwargs)

    def pieces(self, messages, tools, first, thinking, end_token="<|user|>"):
        """[(text, trained)]: the prompt, then every assistant turn from `first` on as a trained piece that
        includes the role token which ends it (`<|observation|>` before tool results, `end_token` at the end)."""
        out = []
        done = ""
        for i in range(first, len(messages)):
            if messages[i]["role"] != "assistant":
                continue
            prefix = self.render(messages[:i], tools, thinking, add_generation_prompt=True)
            assert prefix.startswith(done), "template renders are not prefix-stable"
            out.append((prefix[len(done):], False))
            full = self.render(messages[:i + 1], tools, thinking, add_generation_prompt=False)
            assert full.startswith(prefix), "assistant turn does not extend its generation prompt"
            turn = full[len(prefix):]
            following = self.render(messages[:i + 2], tools, thinking, add_generation_prompt=False) \
                if i + 1 < len(messages) else full + end_token
            closing = following[len(full):]
            closer = "<|observation|>" if closing.startswith("<|observation|>") else end_token
            out.append((turn + closer, True))
            done = full + closer
        return out
