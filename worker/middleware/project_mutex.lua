-- luacheck: globals ARGV KEYS redis
-- The per-project mutex of syncfarm's workers (worker/middleware/project_mutex.py).
--
-- project_mutex(
--   keys=[lock, waiting, waiting_msgs, handoff, waiting_projects, fence],
--   args=[command, project_id, ...]
-- )
--
-- Commands and their extra arguments:
--
--   acquire(token, lease_ttl_ms, message_id, message_data) -> fence | 0
--     Takes the free lease (and takes the message out of the line), or
--     puts the message in the line.  When the lease was taken, returns
--     its fencing token: a number greater than any the project's leases
--     had before.  The lease's value is then "<fence>:<token>".
--   renew(lease, lease_ttl_ms) -> 1 | 0
--     Extends the lease if `lease` ("<fence>:<token>") still holds it.
--   release(lease, handoff_ttl_ms) -> {released, message_data | nil}
--     Frees the lease if `lease` holds it.  When the lease is free
--     afterwards, returns the head of the line for the caller to
--     re-enqueue; the head stays in the line until it takes the lease.
--   sweep(handoff_ttl_ms) -> message_data | nil
--     Returns the head of the line when the lease is free (its holder
--     died) and no hand-off is on its way; forgets an empty line.
--   forget(message_id) -> nil
--     Takes a message that will never run out of the line.
--
-- Key layout ($ns is the middleware's namespace, "syncfarm" by default):
--
-- $ns:lock:$project_id                                      KEYS[1]
--   A string: "<fence>:<token>" of the run that holds the project's
--   lease (its fencing token, then a random token).  It expires after
--   the lease ttl unless its holder renews it.
--
-- $ns:waiting:$project_id                                   KEYS[2]
--   A sorted set of the ids of the messages waiting for the project,
--   scored by when each first waited (microseconds, Redis clock).
--
-- $ns:waiting:$project_id.msgs                              KEYS[3]
--   A hash of message id -> encoded message for the sorted set above.
--
-- $ns:handoff:$project_id                                   KEYS[4]
--   A string: the id of the waiting message that was re-enqueued to
--   take the free lease.  While it exists nobody re-enqueues another
--   copy; it is deleted when that message is delivered, and expires
--   (handoff_ttl_ms) if the hand-off got lost.
--
-- $ns:lock:waiting-projects                                 KEYS[5]
--   A set of the ids of the projects whose line is not empty.
--
-- $ns:fence:$project_id                                     KEYS[6]
--   A counter: the last fencing token given with the project's lease.
--   Incremented by every acquire, never expires.  When it is missing (a
--   new project, or a Redis that lost its data) it starts from the Redis
--   clock in microseconds, so a token given after a data loss is still
--   above every token given before it (the store rejects writes carrying
--   a token lower than the highest it has seen).

local lock = KEYS[1]
local waiting = KEYS[2]
local waiting_msgs = KEYS[3]
local handoff = KEYS[4]
local waiting_projects = KEYS[5]
local fence = KEYS[6]

local command = ARGV[1]
local project_id = ARGV[2]

local function forget(message_id)
    if redis.call("zrem", waiting, message_id) > 0 then
        redis.call("hdel", waiting_msgs, message_id)
        if redis.call("zcard", waiting) == 0 then
            redis.call("srem", waiting_projects, project_id)
        end
    end
    if redis.call("get", handoff) == message_id then
        redis.call("del", handoff)
    end
end

-- Marks the head of the line as handed the lease and returns it, unless
-- a hand-off is already on its way.
local function hand_off(handoff_ttl_ms)
    local head = redis.call("zrange", waiting, 0, 0)[1]
    if not head then
        return false
    end
    if not redis.call("set", handoff, head, "nx", "px", handoff_ttl_ms) then
        return false
    end
    return redis.call("hget", waiting_msgs, head)
end


if command == "acquire" then
    local token = ARGV[3]
    local lease_ttl_ms = ARGV[4]
    local message_id = ARGV[5]
    local message_data = ARGV[6]

    if not redis.call("get", lock) then
        if redis.call("exists", fence) == 0 then
            local now = redis.call("time")
            redis.call("set", fence, string.format("%.0f", now[1] * 1000000 + now[2]))
        end
        local number = redis.call("incr", fence)
        redis.call("set", lock, string.format("%.0f", number) .. ":" .. token, "px", lease_ttl_ms)
        forget(message_id)
        return number
    end

    local now = redis.call("time")
    redis.call("zadd", waiting, "nx", now[1] * 1000000 + now[2], message_id)
    redis.call("hset", waiting_msgs, message_id, message_data)
    redis.call("sadd", waiting_projects, project_id)
    -- The hand-off, if it was this message, has been delivered.
    if redis.call("get", handoff) == message_id then
        redis.call("del", handoff)
    end
    return 0


elseif command == "renew" then
    local lease = ARGV[3]
    local lease_ttl_ms = ARGV[4]

    if redis.call("get", lock) == lease then
        return redis.call("pexpire", lock, lease_ttl_ms)
    end
    return 0


elseif command == "release" then
    local lease = ARGV[3]
    local handoff_ttl_ms = ARGV[4]

    local holder = redis.call("get", lock)
    local released = 0
    if holder == lease then
        redis.call("del", lock)
        released = 1
    elseif holder then
        -- Our lease lapsed and another run holds it now: it hands off.
        return {0, false}
    end
    return {released, hand_off(handoff_ttl_ms)}


elseif command == "sweep" then
    local handoff_ttl_ms = ARGV[3]

    if redis.call("zcard", waiting) == 0 then
        redis.call("srem", waiting_projects, project_id)
        return false
    end
    if redis.call("exists", lock) == 1 then
        return false
    end
    return hand_off(handoff_ttl_ms)


elseif command == "forget" then
    forget(ARGV[3])

end
