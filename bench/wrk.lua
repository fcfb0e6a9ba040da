-- wrk script for the analytics endpoints: GET WRK_PATH with a random client (when
-- WRK_CLIENTS > 0) and any fixed parameters in WRK_QUERY, with `Authorization: Bearer`.
-- env: WRK_TOKEN, WRK_PATH, WRK_CLIENTS (0: no cliente_id), WRK_QUERY (e.g. "de=2025-01&ate=2025-12")
local token = os.getenv("WRK_TOKEN") or ""
local path = os.getenv("WRK_PATH") or "/api/v1/analytics/media-consumo/"
local clients = tonumber(os.getenv("WRK_CLIENTS") or "0")
local query = os.getenv("WRK_QUERY") or ""
local headers = {["Authorization"] = "Bearer " .. token}
math.randomseed(os.time() + math.floor(os.clock() * 1000000))

request = function()
  local params = query
  if clients > 0 then
    local id = "cliente_id=" .. math.random(1, clients)
    params = (params == "") and id or (params .. "&" .. id)
  end
  local target = (params == "") and path or (path .. "?" .. params)
  return wrk.format("GET", target, headers)
end
