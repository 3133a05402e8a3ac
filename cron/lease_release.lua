-- Release a lease only if we still hold it (compare-and-delete).
-- KEYS[1]: the lease key, e.g. syncfarm:ticker:leader
-- ARGV[1]: the holder's token
-- Returns 1 when released, 0 when the lease was not ours.
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
end
return 0
