-- Renew a lease only if we still hold it (compare-and-pexpire).
-- KEYS[1]: the lease key, e.g. syncfarm:ticker:leader
-- ARGV[1]: the holder's token
-- ARGV[2]: the new time to live, in milliseconds
-- Returns 1 when renewed, 0 when the lease is gone or held by someone else.
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("pexpire", KEYS[1], ARGV[2])
end
return 0
