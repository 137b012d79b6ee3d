"""The affordance catalogue that ships with Stagegate: what each affordance is,
and what having it lets a system reach with extra effort."""

AFFORDANCES: list[tuple[str, str, str]] = [
    ("tool_use", "Tool use", "Calls functions the deployer defines (APIs, calculators, databases)."),
    ("internet_access", "Internet access", "Fetches and submits arbitrary web pages and HTTP APIs."),
    ("code_execution", "Code execution", "Runs code it writes in a sandbox and reads the result."),
    ("shell", "Shell", "Runs commands in an operating-system shell."),
    ("file_system", "File system", "Reads and writes files that persist beyond one call."),
    ("retrieval", "Retrieval", "Searches a document store or retrieval database."),
    ("memory", "Persistent memory", "Keeps notes across conversations and users."),
    ("email", "Email", "Sends and receives email."),
    ("payments", "Payments", "Spends money: cards, transfers, crypto-assets."),
    ("compute_rental", "Compute rental", "Rents paid GPUs or cloud machines."),
    ("human_contractors", "Human contractors", "Hires people to carry out tasks in the world."),
]

EDGES: list[tuple[str, str, str]] = [
    ("internet_access", "code_execution", "Online code sandboxes and notebooks are a web request away."),
    ("internet_access", "email", "Web mail services can be used from a browser."),
    ("internet_access", "payments", "Online payment services and exchanges accept web requests."),
    ("internet_access", "human_contractors", "Freelance marketplaces are reachable on the web."),
    ("internet_access", "compute_rental", "Cloud providers rent machines through web consoles and APIs."),
    ("code_execution", "shell", "Running code can spawn a shell."),
    ("shell", "file_system", "A shell reads and writes files."),
    ("payments", "compute_rental", "Money buys GPU time."),
    ("payments", "human_contractors", "Money buys people's work."),
    ("email", "human_contractors", "People can be recruited by email."),
]
