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

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local sextet = {}
for i = 1, #alphabet do sextet[alphabet:byte(i)] = i - 1 end

local function base64_decode(text)
  local out, bits, value = {}, 0, 0
  for i = 1, #text do
    local v = sextet[text:byte(i)]
    if v then
      value = value * 64 + v
      bits = bits + 6
      if bits >= 8 then
        bits = bits - 8
        local byte = math.floor(value / 2 ^ bits)
        out[#out + 1] = string.char(byte)
        value = value - byte * 2 ^ bits
      end
    end
  end
  return table.concat(out)
end

local function url_encode(text)
  return (text:gsub("[+/=]", function(c) return string.format("%%%02X", c:byte()) end))
end

function init(args)
  local file, method = args[1], (args[2] or "get"):lower()
  if not file then error("usage: wrk ... -s ocsp.lua URL -- REQUESTS_FILE [get|post]") end
  local path = wrk.path
  for line in io.lines(file) do
    line = line:gsub("%s+$", "")
    if line ~= "" and line:sub(1, 1) ~= "#" then
      if method == "post" then
        requests[#requests + 1] = wrk.format("POST", path,
          { ["Content-Type"] = "application/ocsp-request" }, base64_decode(line))
      else
        local base = path:sub(-1) == "/" and path or (path .. "/")
        requests[#requests + 1] = wrk.format("GET", base .. url_encode(line))
      end
    end
  end
  if #requests == 0 then error("no requests in " .. file) end
  next_index = math.random(#requests) - 1
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end
