"""The ``megatron`` console script: operators' and analysts' commands on Faust's command machinery."""
