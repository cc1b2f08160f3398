-- wrk script: POST /api/v1/orders with a fixed, valid order body (one line item).
--   wrk -t2 -c64 -d15s --latency -s bench/post_order.lua http://HOST:PORT/api/v1/orders
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"customerEmail":"bench@example.com","items":[{"product":"Latte","variation":"Vanilla","quantity":2}],' ..
           '"paymentMethod":"credit_card","currency":"USD"}'
