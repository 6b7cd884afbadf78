-- Graph-shaped errors: the ApiError value that handlers raise, and the error body.
local util = require "vpptoken_sandbox.util"

local errors = {}

local ApiError = { __name = "vpptoken_sandbox.ApiError" }
ApiError.__index = ApiError
ApiError.__tostring = function(e)
  return string.format("[%d][%s] %s", e.status, e.code, e.message)
end

-- The code Graph uses for a status when nothing more specific applies.
errors.DEFAULT_CODES = {
  [400] = "BadRequest", [401] = "InvalidAuthenticationToken", [403] = "Forbidden",
  [404] = "ResourceNotFound", [405] = "BadRequest", [409] = "Conflict", [412] = "PreconditionFailed",
  [413] = "RequestEntityTooLarge", [415] = "BadRequest", [429] = "TooManyRequests",
  [500] = "InternalServerError", [501] = "NotImplemented", [502] = "BadGateway",
  [503] = "ServiceUnavailable", [504] = "UnknownError", [507] = "InsufficientStorage",
}

errors.DEFAULT_MESSAGES = {
  [429] = "Too many requests. Please retry later.",
  [500] = "An internal server error occurred.",
  [502] = "The gateway received an invalid response.",
  [503] = "The service is temporarily unavailable.",
  [504] = "",
  [507] = "Insufficient storage.",
}

function errors.code_for(status)
  return errors.DEFAULT_CODES[status] or (status >= 500 and "InternalServerError" or "BadRequest")
end

-- A new error value; headers (optional) are extra response headers such as Allow.
function errors.new(status, code, message, headers)
  return setmetatable({ status = status, code = code or errors.code_for(status),
                        message = message or "", headers = headers }, ApiError)
end

-- Raises an ApiError; the router turns it into a Graph error response.
function errors.raise(status, code, message, headers)
  error(errors.new(status, code, message, headers), 0)
end

function errors.bad_request(message)
  errors.raise(400, "BadRequest", message)
end

function errors.is(e)
  return getmetatable(e) == ApiError
end

-- {"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}
function errors.body(ctx, code, message)
  return {
    error = {
      code = code,
      message = message,
      innerError = {
        date = util.error_date(util.now()),
        ["request-id"] = ctx.request_id,
        ["client-request-id"] = ctx.client_request_id,
      },
    },
  }
end

return errors
