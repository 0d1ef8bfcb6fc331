-- wrk script: requests spread over a whole certificate population, as a CA's relying parties
-- send them. Reads a file of base64 DER OCSP requests, one per line (`ocsp-load --write-requests`),
-- and picks each request at random: uniformly, or by a Zipf law (a hot set with a long tail).
--
--   wrk -t1 -c64 -d5s -s LoadTests/wrk/population.lua http://127.0.0.1:PORT/ -- requests.txt get uniform
--   wrk -t1 -c64 -d5s -s LoadTests/wrk/population.lua http://127.0.0.1:PORT/ -- requests.txt post zipf 1.0
--
-- GET paths use the URL-safe base64 alphabet without padding (RFC 4648 §5), so they need no
-- percent-encoding and name a file directly: nginx serving `root/<path>` sees the same paths.
-- Every request is formatted once in init(); request() draws a number and returns a string.
-- The seed is fixed, so two servers see the same sequence of requests.

local requests = {}
local cumulative = nil  -- Zipf: cumulative weights by rank
local rank_to_index = nil

-- The helpers next to this script.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local function url_safe(text)
  return (text:gsub("=", ""):gsub("[+/]", { ["+"] = "-", ["/"] = "_" }))
end

function init(args)
  local file, method, distribution = args[1], (args[2] or "get"):lower(), (args[3] or "uniform"):lower()
  if not file then
    error("usage: wrk ... -s population.lua URL -- REQUESTS_FILE [get|post] [uniform|zipf [S]]")
  end
  local base = wrk.path:sub(-1) == "/" and wrk.path or (wrk.path .. "/")
  for _, line in ipairs(common.request_lines(file)) do
    if method == "post" then
      requests[#requests + 1] = wrk.format("POST", wrk.path,
        { ["Content-Type"] = "application/ocsp-request" }, common.base64_decode(line))
    else
      requests[#requests + 1] = wrk.format("GET", base .. url_safe(line))
    end
  end
  local n = #requests
  if n == 0 then error("no requests in " .. file) end
  math.randomseed(20261130)
  if distribution == "zipf" then
    local s = tonumber(args[4] or "1.0")
    cumulative = {}
    local total = 0
    for k = 1, n do
      total = total + 1 / k ^ s
      cumulative[k] = total
    end
    for k = 1, n do cumulative[k] = cumulative[k] / total end
    -- Which request has which rank: a fixed random permutation, so the hot set is spread over
    -- the key space rather than being the first serials in store order.
    rank_to_index = {}
    for k = 1, n do rank_to_index[k] = k end
    for k = n, 2, -1 do
      local j = math.random(k)
      rank_to_index[k], rank_to_index[j] = rank_to_index[j], rank_to_index[k]
    end
  elseif distribution ~= "uniform" then
    error("distribution must be uniform or zipf, not " .. distribution)
  end
end

function request()
  if cumulative == nil then return requests[math.random(#requests)] end
  local u, low, high = math.random(), 1, #cumulative
  while low < high do
    local mid = math.floor((low + high) / 2)
    if cumulative[mid] < u then low = mid + 1 else high = mid end
  end
  return requests[rank_to_index[low]]
end
