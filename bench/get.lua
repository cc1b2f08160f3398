-- wrk script: GET of the URL given on the command line, with the JSON report of report.lua.
--   wrk -t2 -c64 -d15s --latency -s bench/get.lua http://HOST:PORT/healthz
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")
