"""The pure core of each service: state models and the functions that fold events into them.

Nothing here touches a broker, a table or a socket, so every rule is tested without one
(STYLE 8 and 11); agents read a table, call these, write the table and send what they return.
"""
