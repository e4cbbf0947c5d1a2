-- wrk script for scripts/bench_envoy.py: POST the JSON body in the file $BENCH_BODY.
--   BENCH_BODY=bench/... wrk -t1 -c8 -d5s --latency -s bench/post.lua http://127.0.0.1:PORT/v1/chat/completions
local path = os.getenv("BENCH_BODY")
if path == nil or path == "" then
  error("BENCH_BODY is not set (path of the request body file)")
end
local f = assert(io.open(path, "rb"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
