-- Shared by ocsp.lua and population.lua (loaded with dofile from the script's own directory).

local common = {}

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local sextet = {}
for i = 1, #alphabet do sextet[alphabet:byte(i)] = i - 1 end

-- The bytes of standard base64 text (padding and anything else not in the alphabet skipped).
function common.base64_decode(text)
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

-- Each non-blank, non-comment line of a request file (`ocsp-load --write-requests`).
function common.request_lines(file)
  local lines = {}
  for line in io.lines(file) do
    line = line:gsub("%s+$", "")
    if line ~= "" and line:sub(1, 1) ~= "#" then lines[#lines + 1] = line end
  end
  return lines
end

return common
