-- luacheck: the Lua sources, scripts and specs of proxyapi
std = "max"
max_line_length = 120
exclude_files = { "build/**", "luarocks-tree/**" }
files["spec/**/*.lua"] = { std = "max+busted" }
