// The netctl CLI: all of it lives in NetctlCommands (the commands) and NetctlModel (the model).
import NetctlCommands

runNetctl()
