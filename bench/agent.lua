-- wrk script for the agent load (scripts/bench_envoy.py --agent): POSTs the bodies of the file
-- $BENCH_BODIES (scripts/agent_load.py: "<length>\n<body>" repeated), one after the other in
-- file order, never the same body twice in a row. Every "~~EPOCH~~" in a body becomes the
-- number of the current pass over the file (9 letters), so each pass sends new turns over
-- histories the previous requests of the same pass already sent.
--   BENCH_BODIES=agent-64K.bodies wrk -t1 -c8 -d5s -s bench/agent.lua http://127.0.0.1:PORT/v1/chat/completions
local path = os.getenv("BENCH_BODIES")
if path == nil or path == "" then
  error("BENCH_BODIES is not set (path of a scripts/agent_load.py bodies file)")
end
local f = assert(io.open(path, "rb"))
local data = f:read("*a")
f:close()

-- The pass number in letters ("aaaaaaaab"): digits would read as PII (a 9-digit run is an SSN).
local function letters(e)
  return (string.gsub(string.format("%09d", e), "%d", function(d) return string.char(97 + tonumber(d)) end))
end

-- Each body split at its markers: { piece, false, piece, false, ... } with the epoch written
-- into the false slots before table.concat.
local bodies = {}
local pos = 1
while pos <= #data do
  local nl = string.find(data, "\n", pos, true)
  if nl == nil then break end
  local len = tonumber(string.sub(data, pos, nl - 1))
  local body = string.sub(data, nl + 1, nl + len)
  pos = nl + 1 + len
  local parts, slots = {}, {}
  local from = 1
  while true do
    local s, e = string.find(body, "~~EPOCH~~", from, true)
    if s == nil then break end
    parts[#parts + 1] = string.sub(body, from, s - 1)
    parts[#parts + 1] = ""
    slots[#slots + 1] = #parts
    from = e + 1
  end
  parts[#parts + 1] = string.sub(body, from)
  bodies[#bodies + 1] = { parts = parts, slots = slots }
end
if #bodies < 2 then
  error("need at least two bodies in " .. path)
end

local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer sk-bench" }
local n = 0
local epoch, last_e = "", -1
-- Each wrk run starts its passes at BENCH_EPOCH_BASE (a warm-up run and the measured run must not
-- send the same texts).
local base = tonumber(os.getenv("BENCH_EPOCH_BASE") or "0") or 0

request = function()
  local i = n % #bodies + 1
  local e = base + math.floor(n / #bodies) + 1
  if e ~= last_e then
    epoch, last_e = letters(e), e
  end
  n = n + 1
  local b = bodies[i]
  for _, k in ipairs(b.slots) do
    b.parts[k] = epoch
  end
  return wrk.format("POST", nil, headers, table.concat(b.parts))
end
