-- wrk script: cycle through OCSP requests read from a file of base64 DER requests, one per line
-- (the format of `ocsp-load --write-requests` / `--requests`), as GET or POST.
--
--   wrk -t1 -c64 -d5s -s LoadTests/wrk/ocsp.lua http://127.0.0.1:PORT/ -- requests.txt post
--   wrk -t1 -c64 -d5s -s LoadTests/wrk/ocsp.lua http://127.0.0.1:PORT/ -- requests.txt get
--
-- Every request is formatted once in init(); request() only hands out the next string, so the
-- script costs wrk little beyond a Lua call per request.

local requests = {}
local next_index = 0

-- The helpers next to this script.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local function url_encode(text)
  return (text:gsub("[+/=]", function(c) return string.format("%%%02X", c:byte()) end))
end

function init(args)
  local file, method = args[1], (args[2] or "get"):lower()
  if not file then error("usage: wrk ... -s ocsp.lua URL -- REQUESTS_FILE [get|post]") end
  local path = wrk.path
  for _, line in ipairs(common.request_lines(file)) do
    if method == "post" then
      requests[#requests + 1] = wrk.format("POST", path,
        { ["Content-Type"] = "application/ocsp-request" }, common.base64_decode(line))
    else
      local base = path:sub(-1) == "/" and path or (path .. "/")
      requests[#requests + 1] = wrk.format("GET", base .. url_encode(line))
    end
  end
  if #requests == 0 then error("no requests in " .. file) end
  next_index = math.random(#requests) - 1
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end
